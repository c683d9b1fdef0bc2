"""SGD whose master weights live in a low-precision format, updated by rounding.

HFP8 keeps the weights in 16 bits; an update w - lr * grad is rounded back to that format
every step. Rounding to nearest drops every update smaller than half the spacing of the
values around w, so with small learning rates or late in training the weights stop
moving; stochastic rounding lands on the upper neighbour with probability proportional
to the distance, so the expected weight follows the exact update (seeded generator,
so runs repeat).
"""
from __future__ import annotations

import torch

from .rounding import round_nearest, round_stochastic

ROUNDINGS = ("stochastic", "nearest")


class LowPrecisionSGD(torch.optim.Optimizer):
    def __init__(self, params, lr: float, weight_format, rounding: str = "stochastic",
                 momentum: float = 0.0, seed: int = 0):
        if rounding not in ROUNDINGS:
            raise ValueError(f"update_rounding={rounding!r}: expected one of {ROUNDINGS}")
        if lr <= 0:
            raise ValueError(f"lr={lr!r}: must be positive")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum={momentum!r}: must be in [0, 1)")
        super().__init__(params, {"lr": lr, "momentum": momentum})
        self.weight_format, self.rounding = weight_format, rounding
        self.generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():  # the master weights start on the format's grid
            for group in self.param_groups:
                for p in group["params"]:
                    p.copy_(round_nearest(p, weight_format))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                update = p.grad
                if group["momentum"]:
                    buf = self.state[p].setdefault("momentum", torch.zeros_like(p))
                    buf.mul_(group["momentum"]).add_(update)
                    update = buf
                exact = p.to(torch.float64) - group["lr"] * update.to(torch.float64)
                if self.rounding == "stochastic":
                    p.copy_(round_stochastic(exact, self.weight_format, self.generator))
                else:
                    p.copy_(round_nearest(exact, self.weight_format))
