"""ZeroQ distilled data (Cai et al., "ZeroQ: A Novel Zero Shot Quantization Framework",
2020): start from Gaussian noise and optimise the inputs themselves until every
BatchNorm layer sees its running statistics, one batch at a time.

Optionally the inputs' own per-channel mean and std are pulled towards known values
(`input_stats`, e.g. (0, 1) for inputs normalised by the dataset statistics), as ZeroQ
does for ImageNet's normalised pixels.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from .probe import FloatProbe
from .statistics import statistics_loss


@dataclass(frozen=True)
class ZeroQOptions:
    # ZeroQ runs 500; on the digits CNN 100 steps already match the statistics better than
    # real digits do (statistics loss 0.0039 vs 0.0042), and the steps are the whole cost
    steps: int = 200
    lr: float = 0.2
    batch: int = 32
    input_stats: Optional[tuple] = None  # (mean, std) the inputs should have per channel


def zeroq_samples(probe: FloatProbe, shapes: list[tuple], samples: int, seed: int,
                  options: ZeroQOptions = ZeroQOptions(), progress=None) -> list[np.ndarray]:
    """`samples` distilled samples per input (a list in graph-input order)."""
    generator = torch.Generator().manual_seed(seed)
    batches, made = [], 0
    while made < samples:
        size = shapes[0][0]
        batch = [torch.randn(s, generator=generator) for s in shapes]
        desc = f"zeroq samples {made}-{min(made + size, samples)}"
        batches.append(_distil(probe, batch, options, progress, desc))
        made += size
    return [np.concatenate([b[i] for b in batches])[:samples] for i in range(len(shapes))]


def _distil(probe: FloatProbe, batch: list[torch.Tensor], options: ZeroQOptions, progress, desc: str) -> list:
    inputs = [torch.nn.Parameter(x) for x in batch]
    optimizer = torch.optim.Adam(inputs, lr=options.lr)
    # the step shrinks with a cosine: large moves find the statistics, small ones settle them
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, options.steps)
    steps = range(options.steps)
    for _ in progress.iterate(steps, desc=desc, total=options.steps) if progress is not None else steps:
        _, activations = probe(*inputs)
        loss = statistics_loss(activations, probe.targets) + _input_loss(inputs, options.input_stats)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    return [x.detach().numpy().astype(np.float32) for x in inputs]


def _input_loss(inputs: list[torch.Tensor], stats: Optional[tuple]) -> torch.Tensor:
    if stats is None:
        return torch.zeros(())
    mean, std = stats
    total = torch.zeros(())
    for x in inputs:
        dims = [d for d in range(x.dim()) if d != 1]
        total = total + ((x.mean(dims) - mean) ** 2).mean() + ((x.std(dims) - std) ** 2).mean() / std ** 2
    return total
