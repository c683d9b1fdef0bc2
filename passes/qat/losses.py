"""qat's training losses. `loss=auto` (the default): cross-entropy when the data has
labels, else distillation to the float model's outputs (mean squared error over every
output), which needs nothing but inputs: the natural default for a compiler, which is
handed a model and calibration samples. `kl` distils a classifier's softmax instead. A
callable `loss(output, target)` gets the first output and the labels (or, without
labels, the float model's first output).
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from .errors import QATError

LOSSES = ("auto", "ce", "mse", "kl")

def check_loss(loss) -> None:
    if not callable(loss) and loss not in LOSSES:
        raise QATError(f"qat: loss={loss!r}; expected one of {', '.join(LOSSES)} or a callable(output, target)")

def training_loss(loss, outputs: list, labels: Optional[torch.Tensor], teacher: Optional[list]) -> torch.Tensor:
    """`teacher` (the float model's outputs) is None when the loss needs only labels."""
    if callable(loss):
        return loss(outputs[0], labels if labels is not None else teacher[0])
    if loss == "ce" or (loss == "auto" and labels is not None):
        if labels is None:
            raise QATError("qat: loss=ce needs labels: give data=(x, y) or a DataLoader of (x, y) batches")
        return F.cross_entropy(outputs[0], labels.long())
    if loss == "kl":
        return F.kl_div(F.log_softmax(outputs[0], -1), F.log_softmax(teacher[0], -1), log_target=True,
                        reduction="batchmean")
    return sum(F.mse_loss(o, t) for o, t in zip(outputs, teacher))


def distillation_loss(loss, labels: Optional[torch.Tensor]):
    """What distils the float model's outputs into a model trained with `loss`, for
    training_loss with labels=None: a classifier's softmax (loss ce, kl, or auto with
    labels) by kl; a callable against the float model's first output; else mse over every
    output."""
    if callable(loss):
        return loss
    return "kl" if loss in ("ce", "kl") or (loss == "auto" and labels is not None) else "mse"


def needs_teacher(loss, labels: Optional[torch.Tensor]) -> bool:
    return labels is None or (not callable(loss) and loss in ("mse", "kl"))
