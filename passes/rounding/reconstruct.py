"""Learning the rounding of one unit's weights: Adam on the rounding variables, the
loss being the unit's output reconstruction error plus the rounding regulariser
(rounding.py) after a warm-up with the reconstruction alone.

Reconstruction error is BRECQ's: the squared error summed over the channel axis and
averaged over the batch and positions, on random mini-batches of the unit's inputs
(each a quantized-graph value) against the float graph's outputs.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .rounding import beta_at


@dataclass(frozen=True)
class Schedule:
    iters: int
    lr: float
    reg: float
    warmup: float  # fraction of iters before the regulariser starts
    batch: int


def squared_error(outputs, targets) -> torch.Tensor:
    return sum(((o - t) ** 2).sum(1).mean() if o.dim() > 1 else ((o - t) ** 2).mean()
               for o, t in zip(outputs, targets))


def learn(module, roundings: list, inputs: list, targets: list, schedule: Schedule,
          generator: torch.Generator) -> None:
    optimizer = torch.optim.Adam([r.v for r in roundings], lr=schedule.lr)
    count = inputs[0].shape[0] if inputs else targets[0].shape[0]
    warmup = int(schedule.warmup * schedule.iters)
    for step in range(schedule.iters):
        pick = torch.randint(count, (min(schedule.batch, count),), generator=generator)
        outputs = module(*[x[pick] for x in inputs], *[r.soft_weight() for r in roundings])
        loss = squared_error(outputs, [t[pick] for t in targets])
        if step >= warmup:
            beta = beta_at(step, warmup, schedule.iters)
            loss = loss + schedule.reg * sum(r.regulariser(beta) for r in roundings)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def mean_squared_error(module, weights: list, inputs: list, targets: list, batch: int) -> float:
    """The unit's output error with fixed `weights`, per element, over every sample."""
    count = inputs[0].shape[0] if inputs else targets[0].shape[0]
    total, elements = 0.0, 0
    with torch.no_grad():
        for start in range(0, count, batch):
            part = slice(start, start + batch)
            outputs = module(*[x[part] for x in inputs], *weights)
            for o, t in zip(outputs, targets):
                total += float(((o - t[part]) ** 2).sum())
                elements += o.numel()
    return total / max(elements, 1)


def hard_weights(roundings: list, which: str) -> list:
    """The real weights of the `which` ("nearest" | "learned") integers."""
    return [r.weight(r.nearest if which == "nearest" else r.learned()) for r in roundings]

