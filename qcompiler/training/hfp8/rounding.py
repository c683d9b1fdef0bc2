"""Rounding float tensors onto a format's values: to nearest (ties to even) or stochastically.

Both work on the sorted table of representable magnitudes (formats.magnitudes) and keep
the sign, so they apply to every format the simulation names; the arithmetic is float64,
which holds float32 inputs and every 16-bit format exactly. Magnitudes past the largest
value saturate to it.
"""
from __future__ import annotations

import torch

from .formats import magnitudes, midpoints


def round_nearest(x: torch.Tensor, fmt) -> torch.Tensor:
    """x on the nearest value of `fmt` (ties to the even code); `fmt` None returns x."""
    if fmt is None:
        return x
    values = magnitudes(fmt)
    a = x.detach().abs().to(torch.float64)
    mids = midpoints(fmt)
    code = torch.searchsorted(mids, a.reshape(-1), side="left").view(a.shape)
    at_tie = mids[code.clamp(max=len(mids) - 1)] == a
    code = code + (at_tie & (code % 2 == 1)).to(code.dtype)
    snapped = values[code.clamp(max=len(values) - 1)]
    return torch.where(torch.signbit(x), -snapped, snapped).to(x.dtype)


def round_stochastic(x: torch.Tensor, fmt, generator: torch.Generator) -> torch.Tensor:
    """x on one of its two neighbouring values of `fmt`, the upper with probability
    proportional to the distance from the lower: E[result] = x inside the range."""
    if fmt is None:
        return x
    values = magnitudes(fmt)
    a = x.detach().abs().to(torch.float64).clamp(max=float(values[-1]))
    upper = torch.searchsorted(values, a.reshape(-1), side="left").view(a.shape)
    lower = (upper - 1).clamp(min=0)
    lo, hi = values[lower], values[upper]
    gap = torch.where(hi > lo, hi - lo, torch.ones_like(hi))
    p_up = (a - lo) / gap
    draw = torch.rand(a.shape, generator=generator, dtype=torch.float64)
    snapped = torch.where(draw < p_up, hi, lo)
    return torch.where(torch.signbit(x), -snapped, snapped).to(x.dtype)
