"""The HFP8 casts: E4M3 for the forward pass, E5M2 for the backward pass's gradients.

Both use a per-tensor scale taken from the tensor's absolute maximum (amax / largest
value of the format), so the tensor fills the format's range: for gradients this is
the dynamic loss scaling HFP8 needs, since raw gradients sit far below E5M2's normals.
The forward cast passes gradients straight through (the scale covers the whole tensor,
so nothing is clipped); the gradient cast is scaled_round, applied by hfp8_linear.py.
"""
from __future__ import annotations

import torch

from .formats import resolve_format
from .rounding import round_nearest

E4M3 = resolve_format("e4m3", "forward format")
E5M2 = resolve_format("e5m2", "gradient format")


def per_tensor_scale(x: torch.Tensor, fmt) -> torch.Tensor:
    amax = x.detach().abs().max().to(torch.float64)
    return torch.where(amax > 0, amax / float(fmt.max_value), torch.ones_like(amax))


def scaled_round(x: torch.Tensor, fmt) -> torch.Tensor:
    """x rounded to `fmt` values times its per-tensor scale."""
    scale = per_tensor_scale(x, fmt)
    return (round_nearest(x.detach().to(torch.float64) / scale, fmt) * scale).to(x.dtype)


class _ForwardCast(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, fmt):
        return scaled_round(x, fmt)

    @staticmethod
    def backward(ctx, grad):
        return grad, None


def cast_forward(x: torch.Tensor, fmt=E4M3) -> torch.Tensor:
    """Fake-quantize x to `fmt` (per-tensor scale), straight-through gradient."""
    return _ForwardCast.apply(x, fmt)
