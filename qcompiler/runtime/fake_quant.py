"""Fake quantization in torch: affine quantize → dequantize in float, differentiable.

The rounding matches qcompiler.numerics.affine (round half to even, clamp to the storage
range, sign for binary storage), so the torch executor and the numpy reference agree
value for value. Gradients use the clipped straight-through estimator: d(out)/d(x) is 1
where x lies inside the representable range and 0 outside, as in QAT with PyTorch's
FakeQuantize.
"""
from __future__ import annotations

import numpy as np
import torch

from ..ir.types import QuantType
from ..numerics.affine import broadcast_params


def quant_params(t: QuantType) -> tuple:
    """(scale, zero_point) as f32 tensors that broadcast against a value of type `t`
    (per tensor, per channel along `axis`, or repeated per group of `group` elements)."""
    scale, zero_point = broadcast_params(t, t.shape)
    return (torch.from_numpy(np.array(scale, dtype=np.float32)),
            torch.from_numpy(np.array(zero_point, dtype=np.float32)))


def dequantize(q: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor) -> torch.Tensor:
    """Integer storage → the real values it stands for."""
    return (q.to(torch.float32) - zero_point) * scale


def fake_quantize(x: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor, qmin: int, qmax: int,
                  binary: bool = False) -> torch.Tensor:
    """x snapped to the quantization grid; gradients pass straight through inside the range."""
    return _FakeQuantize.apply(x, scale, zero_point, qmin, qmax, binary)


class _FakeQuantize(torch.autograd.Function):
    # a Function rather than `x + (snapped - x).detach()`, whose rounding could move the
    # forward value off the grid by an ulp

    @staticmethod
    def forward(ctx, x, scale, zero_point, qmin, qmax, binary):
        if binary:  # b1 storage: -1 or +1, +1 from the levels' midpoint on (the sign at zero point 0)
            q = torch.where(x >= -zero_point * scale, 1.0, -1.0)
        else:
            q = torch.clamp(torch.round(x / scale) + zero_point, qmin, qmax)
        lo, hi = (qmin - zero_point) * scale, (qmax - zero_point) * scale
        ctx.save_for_backward((x >= lo) & (x <= hi))
        return ((q - zero_point) * scale).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (inside,) = ctx.saved_tensors
        return grad * inside, None, None, None, None, None


def learned_fake_quantize(x: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor, qmin: int, qmax: int,
                          grad_scale: float) -> torch.Tensor:
    """fake_quantize with a trainable step size (LSQ, Esser et al. 2020): the same forward
    values, and d(out)/d(scale) = round(x/s) - x/s inside the range, qmin - zp below and
    qmax - zp above, times `grad_scale` (LSQ's g = 1/sqrt(N * Qp)), summed to the shape of
    `scale` (per tensor or per channel)."""
    return _LearnedFakeQuantize.apply(x, scale, zero_point, qmin, qmax, grad_scale)


class _LearnedFakeQuantize(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, scale, zero_point, qmin, qmax, grad_scale):
        ratio = x / scale
        q = torch.clamp(torch.round(ratio) + zero_point, qmin, qmax)
        below, above = ratio + zero_point < qmin, ratio + zero_point > qmax
        ctx.save_for_backward(ratio, zero_point, below, above)
        ctx.qmin, ctx.qmax, ctx.grad_scale, ctx.scale_shape = qmin, qmax, grad_scale, scale.shape
        return ((q - zero_point) * scale).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        ratio, zero_point, below, above = ctx.saved_tensors
        inside = ~(below | above)
        step = torch.where(below, ctx.qmin - zero_point,
                           torch.where(above, ctx.qmax - zero_point, torch.round(ratio) - ratio))
        grad_scale = (grad * step * ctx.grad_scale).sum_to_size(ctx.scale_shape)
        return grad * inside, grad_scale, None, None, None, None
