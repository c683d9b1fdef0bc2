"""One weight's learned rounding (Nagel et al. 2020, "Up or Down? Adaptive Rounding
for Post-Training Quantization").

Each weight w with scale s rounds to floor(w/s) + h, h in [0, 1]: while learning, h is
the rectified sigmoid h(V) = clip(sigmoid(V)·(ζ − γ) + γ, 0, 1) (ζ = 1.1, γ = −0.1 let
h reach 0 and 1 exactly, so gradients vanish once a weight has decided); afterwards
h = [h(V) >= 0.5]. V starts where h(V) is the fractional part of w/s, so the first soft
weights are the float weights and the first hard ones round to nearest. The regulariser
Σ 1 − |2h − 1|^β pushes every h to 0 or 1; β is annealed from 20 (only weights near
one half feel it) to 2.
"""
from __future__ import annotations

import numpy as np
import torch

from qcompiler.runtime.fake_quant import quant_params

from .float_weights import Weight

ZETA, GAMMA = 1.1, -0.1


class LearnedRounding:
    def __init__(self, weight: Weight):
        t = weight.value.type
        self.scale, self.zero_point = quant_params(t)
        self.qmin, self.qmax = weight.qmin, weight.qmax
        ratio = torch.from_numpy(np.array(weight.float_value, np.float32)) / self.scale
        self.floor = torch.floor(ratio)
        rest = ratio - self.floor
        self.v = torch.nn.Parameter(-torch.log((ZETA - GAMMA) / (rest - GAMMA) - 1))
        # what quantize stored: round to nearest, within the integer range
        self.nearest = torch.from_numpy(np.array(weight.const.attrs["value"].array, np.float32))

    def h(self) -> torch.Tensor:
        return torch.clamp(torch.sigmoid(self.v) * (ZETA - GAMMA) + GAMMA, 0.0, 1.0)

    def soft_weight(self) -> torch.Tensor:
        return self._weight(self._integers(self.h()))

    def regulariser(self, beta: float) -> torch.Tensor:
        return (1 - (2 * self.h() - 1).abs().pow(beta)).sum()

    def learned(self) -> torch.Tensor:
        """The stored integers the learned rounding chose."""
        with torch.no_grad():
            return self._integers((self.h() >= 0.5).to(torch.float32))

    def weight(self, integers: torch.Tensor) -> torch.Tensor:
        """Stored integers as the real weights they stand for."""
        return self._weight(integers)

    def _integers(self, up: torch.Tensor) -> torch.Tensor:
        return torch.clamp(self.floor + up + self.zero_point, self.qmin, self.qmax)

    def _weight(self, q: torch.Tensor) -> torch.Tensor:
        return (q - self.zero_point) * self.scale


def beta_at(step: int, warmup: int, iters: int, start: float = 20.0, end: float = 2.0) -> float:
    """β annealed linearly from `start` to `end` over the steps after the warm-up."""
    progress = (step - warmup) / max(iters - warmup, 1)
    return end + (start - end) * max(0.0, 1.0 - progress)
