"""The QAT loop: Adam (or SGD with momentum) over the trained weights and the step sizes
(the step sizes at `lr * scale_lr`), step sizes and pruned weights projected back into
their allowed set after every step; per epoch the mean loss, a metric (top-1
accuracy against the labels, else agreement with the float model's class for a 2-D
first output) and the weights' lr at the epoch's last step go to ctx.note and the
pass stats. Progress goes through ctx.progress (tqdm when enabled).

`extra_losses(inputs, labels, teacher)` adds terms to every step's loss: BR-QAT's mixed
models (block_replacement.py), which always get the float model's outputs as `teacher`.
`schedule.after_step(epoch, step)` (steps counted from 1 over all epochs) and
`schedule.after_epoch(epoch, step)` run after each optimizer step and each epoch: bit
reallocation (bit_reallocation.py); the parameters they return (step sizes
re-initialised at a new width) start with a fresh optimizer state.

`schedule=cosine` decays both learning rates to zero over the run, as LSQ's paper
trains: at a constant lr the last Adam steps are as large as the first, so the weights
and step sizes training ends with are as noisy as one step makes them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import torch

from .data import TrainingData
from .losses import needs_teacher, training_loss
from .training_module import TrainingModule


@dataclass(frozen=True)
class Settings:
    epochs: int
    lr: float
    scale_lr: float
    optimizer: str
    weight_decay: float
    loss: object
    schedule: str = "constant"


def train(trained: TrainingModule, teacher: Optional[torch.nn.Module], data: TrainingData, settings: Settings,
          ctx, extra_losses: Optional[Callable] = None, schedule=None) -> list:
    groups = [{"params": trained.weight_parameters(), "weight_decay": settings.weight_decay},
              {"params": trained.scale_parameters(), "lr": settings.lr * settings.scale_lr, "weight_decay": 0.0}]
    optimizer = (torch.optim.Adam(groups, lr=settings.lr) if settings.optimizer == "adam"
                 else torch.optim.SGD(groups, lr=settings.lr, momentum=0.9))
    module = trained.module.train()
    total_steps = settings.epochs * data.batches_per_epoch() if settings.schedule == "cosine" else None
    base_lrs = [group["lr"] for group in optimizer.param_groups]
    log, step_count = [], 0
    for epoch in range(1, settings.epochs + 1):
        total, count, hits = 0.0, 0, 0
        for inputs, labels in ctx.progress.iterate(data.epoch(), desc=f"qat epoch {epoch}/{settings.epochs}"):
            reference = None
            if teacher is not None and (needs_teacher(settings.loss, labels) or extra_losses is not None):
                with torch.no_grad():
                    reference = list(teacher(*inputs))
            outputs = list(module(*inputs))
            loss = training_loss(settings.loss, outputs, labels, reference)
            if extra_losses is not None:
                loss = loss + extra_losses(inputs, labels, reference)
            optimizer.zero_grad()
            loss.backward()
            if total_steps is not None:
                decay = 0.5 * (1.0 + math.cos(math.pi * min(step_count / total_steps, 1.0)))
                for group, base in zip(optimizer.param_groups, base_lrs):
                    group["lr"] = base * decay
            optimizer.step()
            trained.project()
            step_count += 1
            if schedule is not None:
                restart_optimizer_state(optimizer, schedule.after_step(epoch, step_count))
            samples = outputs[0].shape[0]
            total, count = total + loss.detach().item() * samples, count + samples
            hits += _hits(outputs[0], labels, reference)
        entry = {"epoch": epoch, "loss": total / max(count, 1),
                 ("accuracy" if labels is not None else "agreement"): hits / max(count, 1),
                 "lr": optimizer.param_groups[0]["lr"]}
        log.append(entry)
        if schedule is not None:
            restart_optimizer_state(optimizer, schedule.after_epoch(epoch, step_count))
        ctx.note("qat epoch " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                          for k, v in entry.items()))
    return log


def restart_optimizer_state(optimizer: torch.optim.Optimizer, parameters: list) -> None:
    """Forget the moments (Adam) or momentum (SGD) of `parameters`: both optimizers
    initialise a parameter's state again when it has none."""
    for parameter in parameters:
        optimizer.state.pop(parameter, None)


def _hits(output: torch.Tensor, labels, reference) -> int:
    if output.dim() != 2:
        return 0
    target = labels if labels is not None else (reference[0].argmax(1) if reference is not None else None)
    return 0 if target is None else int((output.detach().argmax(1) == target).sum())
