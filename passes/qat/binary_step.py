"""The quantizer of a binary (b1) weight during QAT: Q = s · sign(W), s the mean
magnitude of W per output channel (or per tensor, as quantize stored it).

For fixed signs, the mean magnitude is the scale of least squared error ‖s·sign(W) − W‖²,
the rule quantize uses for b1 weights (passes/quantize/weights.py), so after training the
weight is stored exactly as quantize would store the trained floats: signs as ±1 and
the scale computed from them. The scale is therefore not a free parameter: it follows
the weights (XNOR-Net's α), and its gradient reaches them through the mean. The sign's
gradient is the straight-through identity, so every weight can still flip; whatever
training does, the forward value is ±s and never 0, which is what b1 storage can hold.
"""
from __future__ import annotations

import torch


class BinaryStep(torch.nn.Module):

    def __init__(self, parameter: torch.nn.Parameter, axis, method: str):
        super().__init__()
        self.method, self.qmin, self.qmax = method, -1, 1
        self.register_buffer("zero_point", torch.zeros(()))
        self.reduce = [d for d in range(parameter.dim()) if axis is None or d != axis % parameter.dim()]
        # held in a list so that the weight is not registered a second time, as a step-size parameter
        self._weight = [parameter]

    def scale(self, weight: torch.Tensor = None) -> torch.Tensor:
        weight = self._weight[0] if weight is None else weight
        return weight.abs().mean(dim=self.reduce, keepdim=True)

    def project(self) -> None:
        """Nothing to project: the scale is derived from the weights."""

    def learned_scale(self):
        """The scale of the current weights as f32 numbers; a channel of exact zeros (no
        magnitude) takes the largest scale, as quantize's degenerate-row rule does."""
        with torch.no_grad():
            scale = self.scale().reshape(-1)
            if bool((scale == 0).all()):
                scale = torch.ones_like(scale)
            scale = torch.where(scale == 0, scale.max(), scale)
            return scale.numpy().astype("float32")

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return _SignThrough.apply(w) * self.scale(w)


class _SignThrough(torch.autograd.Function):
    """sign with +1 at 0 (b1 has no zero, as numerics.affine.quantize), identity gradient."""

    @staticmethod
    def forward(ctx, w):
        return torch.where(w >= 0, 1.0, -1.0).to(w.dtype)

    @staticmethod
    def backward(ctx, grad):
        return grad
