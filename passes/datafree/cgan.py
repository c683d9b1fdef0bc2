"""ZS-CGAN (Choi et al., "Zero-Shot Learning of a Conditional Generative Adversarial
Network for Data-Free Network Quantization", 2021): the float model is the fixed
discriminator of a conditional generator. For sampled class labels y, the generator is
trained so that the model classifies G(z, y) as y (cross-entropy) and every BatchNorm
layer sees its running statistics (statistics.py); samples are then drawn with
class-balanced labels.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .errors import DataFreeError
from .generator import ConditionalGenerator
from .probe import FloatProbe
from .statistics import statistics_loss


@dataclass(frozen=True)
class CGANOptions:
    steps: int = 400
    lr: float = 1e-2
    batch: int = 32
    width: int = 32  # generator channels: its cost grows with width^2 x the input's pixels
    # against the cross-entropy, which a generator meets long before the statistics (digits
    # CNN, 200 steps: statistics loss 0.36 at weight 1, 0.04 at weight 5 with lr 1e-2)
    statistics_weight: float = 5.0


def cgan_samples(probe: FloatProbe, shapes: list[tuple], samples: int, seed: int,
                 options: CGANOptions = CGANOptions(), progress=None) -> list[np.ndarray]:
    if len(shapes) != 1 or len(shapes[0]) != 4:
        raise DataFreeError(f"synthetic=cgan generates one image input [N, C, H, W]; the graph takes {len(shapes)} "
                            f"input(s) of shapes {[list(s) for s in shapes]}; use synthetic=zeroq")
    batch = shapes[0][0]
    with torch.random.fork_rng():  # seeds the generator's initial weights, leaves the caller's RNG alone
        torch.manual_seed(seed)
        generator = ConditionalGenerator(probe.classes, shapes[0][1:], width=options.width)
    rng = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(generator.parameters(), lr=options.lr, betas=(0.5, 0.999))
    steps = range(options.steps)
    generator.train()
    for _ in progress.iterate(steps, desc="cgan generator", total=options.steps) if progress is not None else steps:
        labels = balanced_labels(batch, probe.classes, rng)
        logits, activations = probe(generator(torch.randn(batch, generator.noise, generator=rng), labels))
        loss = (nn.functional.cross_entropy(logits, labels)
                + options.statistics_weight * statistics_loss(activations, probe.targets))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return [_draw(generator, samples, batch, probe.classes, rng)]


def balanced_labels(count: int, classes: int, rng: torch.Generator) -> torch.Tensor:
    """Every class equally often (up to one), in a seeded random order."""
    return (torch.arange(count) % classes)[torch.randperm(count, generator=rng)]


def _draw(generator: ConditionalGenerator, samples: int, batch: int, classes: int, rng: torch.Generator) -> np.ndarray:
    """Samples in batches of the training size, the generator's BatchNorms still on batch
    statistics: the distribution it was trained to produce."""
    labels = balanced_labels(samples, classes, rng)
    out = []
    with torch.no_grad():
        for start in range(0, samples, batch):
            chunk = labels[start:start + batch]
            padded = torch.cat([chunk, labels[:batch - len(chunk)]]) if len(chunk) < batch else chunk
            out.append(generator(torch.randn(batch, generator.noise, generator=rng), padded)[:len(chunk)])
    return torch.cat(out).numpy().astype(np.float32)
