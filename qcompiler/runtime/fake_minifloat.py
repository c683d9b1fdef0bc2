"""Minifloat fake quantization in torch: round to a scaled minifloat format, differentiable.

The rounding is numerics/minifloat.py's (nearest representable magnitude, ties to the
even code, saturating), done on the format's midpoint table with torch.searchsorted, so
the torch executor and the numpy reference agree value for value. Gradients use the
clipped straight-through estimator, as the integer fake quantization does: 1 inside
[-max·scale, max·scale], 0 outside.
"""
from __future__ import annotations

import numpy as np
import torch

from ..ir.types import MinifloatType
from ..numerics.minifloat import broadcast_scale, format_of, positive_values


def minifloat_params(t: MinifloatType) -> tuple:
    """(scale broadcastable against the value, representable magnitudes) as tensors."""
    scale = torch.from_numpy(np.array(broadcast_scale(t, t.shape), dtype=np.float32))
    return scale, torch.from_numpy(np.array(positive_values(format_of(t))))


def fake_minifloat(x: torch.Tensor, scale: torch.Tensor, magnitudes: torch.Tensor) -> torch.Tensor:
    return _FakeMinifloat.apply(x, scale, magnitudes)


class _FakeMinifloat(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, scale, magnitudes):
        y = x.to(torch.float32) / scale
        a = y.abs().to(torch.float64)
        mids = (magnitudes[1:] + magnitudes[:-1]) / 2
        code = torch.searchsorted(mids, a.contiguous().view(-1), side="left").view(a.shape)
        at_tie = mids[code.clamp(max=len(mids) - 1)] == a
        code = code + (at_tie & (code % 2 == 1)).to(code.dtype)  # an exact midpoint goes to the even code
        snapped = magnitudes[code.clamp(max=len(magnitudes) - 1)].to(torch.float32)
        snapped = torch.where(torch.signbit(y), -snapped, snapped) * scale
        ctx.save_for_backward(a <= magnitudes[-1])
        return torch.where(torch.isnan(x), x, snapped).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (inside,) = ctx.saved_tensors
        return grad * inside, None, None
