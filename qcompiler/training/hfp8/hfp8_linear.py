"""The HFP8 linear product as an autograd Function: all three GEMMs accumulate in chunks.

Forward y = x w^T, backward grad_x = g w and grad_w = g^T x, each a rounded_matmul with
the same chunk length and accumulator format, as HFP8 hardware runs all three on the
same FP8 units. The incoming gradient g is rounded to E5M2 first (fp8_casts), and the
operands x and w arrive already cast to E4M3 by the caller.
"""
from __future__ import annotations

import torch

from .chunked_matmul import rounded_matmul
from .fp8_casts import scaled_round


class HFP8LinearFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, chunk, accumulator, gradient_format):
        ctx.save_for_backward(x, weight)
        ctx.config = (chunk, accumulator, gradient_format)
        return rounded_matmul(x, weight.t(), chunk, accumulator)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        chunk, accumulator, gradient_format = ctx.config
        g = scaled_round(grad, gradient_format) if gradient_format is not None else grad
        grad_x = rounded_matmul(g, weight, chunk, accumulator)
        grad_w = rounded_matmul(g.t(), x, chunk, accumulator)
        return grad_x, grad_w, None, None, None


def hfp8_linear(x: torch.Tensor, weight: torch.Tensor, chunk: int, accumulator, gradient_format) -> torch.Tensor:
    """x [N, K] @ weight [M, K]^T with HFP8 accumulation and gradient rounding."""
    return HFP8LinearFunction.apply(x, weight, chunk, accumulator, gradient_format)
