"""The loss sensitivities are measured with: the task loss when labels are known (cross
entropy for class indices, mean squared error for float targets, on the first output),
else the KL divergence from the float model's output distribution (softmax over dim 1,
as cross entropy's class dim) summed over the float outputs."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .errors import SensitivityError


def per_sample_task_loss(outputs: tuple, labels: torch.Tensor) -> torch.Tensor:
    """The task loss of each sample of the batch: shape [N]."""
    logits = outputs[0]
    if not labels.is_floating_point():
        if logits.ndim < 2 or tuple(labels.shape) != (logits.shape[0],) + tuple(logits.shape[2:]):
            raise SensitivityError(f"class labels of shape {list(labels.shape)} do not fit the first output "
                                   f"{list(logits.shape)} (classes along dim 1)")
        losses = F.cross_entropy(logits, labels.long(), reduction="none")
    elif labels.shape != logits.shape:
        raise SensitivityError(f"float labels of shape {list(labels.shape)} do not match the first output "
                               f"{list(logits.shape)}")
    else:
        losses = F.mse_loss(logits, labels.to(logits.dtype), reduction="none")
    return losses.reshape(losses.shape[0], -1).mean(dim=1)


def task_loss(outputs: tuple, labels: torch.Tensor) -> torch.Tensor:
    return per_sample_task_loss(outputs, labels).mean()


def kl_to_reference(outputs: tuple, reference: tuple) -> torch.Tensor:
    total = outputs[0].new_zeros(())
    for out, ref in zip(outputs, reference):
        if not out.is_floating_point():
            continue
        dim = 1 if out.ndim >= 2 else -1
        log_p = F.log_softmax(out, dim=dim)
        log_ref = F.log_softmax(ref.detach(), dim=dim)
        total = total + (log_ref.exp() * (log_ref - log_p)).sum(dim=dim).mean()
    return total

