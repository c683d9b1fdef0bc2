"""User entry point: train a torch model under the HFP8 simulation.

    from qcompiler.training.hfp8 import train
    log = train(model, loader, epochs=3, chunk=64, accumulate="fp16")

`model`'s Linear and Conv2d layers are converted in place (convert_to_hfp8) and trained
with LowPrecisionSGD; `data` is any iterable of (inputs, targets) batches, re-iterated
every epoch (a DataLoader, or a list). Returns the per-epoch log (also printed unless
quiet): mean loss and, when `eval_data` is given, its accuracy.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from tqdm import tqdm

from .formats import resolve_format
from .layers import HFP8Numerics, convert_to_hfp8
from .low_precision_sgd import LowPrecisionSGD


@dataclass
class EpochLog:
    epoch: int
    loss: float
    accuracy: float | None

    def __str__(self):
        acc = "" if self.accuracy is None else f"  accuracy {100 * self.accuracy:.2f}%"
        return f"epoch {self.epoch}: loss {self.loss:.4f}{acc}"


def make_numerics(chunk: int, accumulate: str, forward: str = "e4m3", gradients: str = "e5m2") -> HFP8Numerics:
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk={chunk!r}: expected a positive integer (1 = naive accumulation)")
    return HFP8Numerics(resolve_format(forward, "forward"), resolve_format(gradients, "gradients"),
                        resolve_format(accumulate, "accumulate"), chunk)


def accuracy(model: torch.nn.Module, data) -> float:
    correct = total = 0
    model.eval()
    with torch.no_grad():
        for x, y in data:
            correct += int((model(x).argmax(1) == y).sum())
            total += len(y)
    model.train()
    return correct / max(total, 1)


def train(model: torch.nn.Module, data, epochs: int, chunk: int = 64, accumulate: str = "fp16",
          forward: str = "e4m3", gradients: str = "e5m2", weights: str = "bf16",
          update_rounding: str = "stochastic", lr: float = 0.1, momentum: float = 0.0,
          loss_fn=torch.nn.functional.cross_entropy, eval_data=None, seed: int = 0,
          quiet: bool = False) -> list[EpochLog]:
    """Train `model` (converted in place) for `epochs`; see the module docstring."""
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs={epochs!r}: expected a positive integer")
    numerics = make_numerics(chunk, accumulate, forward, gradients)
    optimizer = LowPrecisionSGD(convert_to_hfp8(model, numerics).parameters(), lr,
                                resolve_format(weights, "weights"), update_rounding, momentum, seed)
    log = []
    for epoch in range(1, epochs + 1):
        total, batches = 0.0, 0
        for x, y in tqdm(data, desc=f"hfp8 epoch {epoch}/{epochs}", disable=quiet, leave=False):
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"epoch {epoch}: loss became {loss.item()}; lower lr={lr}")
            loss.backward()
            optimizer.step()
            total, batches = total + loss.item(), batches + 1
        if batches == 0:
            raise ValueError("data: yielded no batches")
        entry = EpochLog(epoch, total / batches, accuracy(model, eval_data) if eval_data is not None else None)
        log.append(entry)
        if not quiet:
            print(entry)
    return log
