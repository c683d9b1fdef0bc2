"""The loss's Hessian in the model's outputs, per sample, as factors Fₙ with FₙFₙᵀ = Hₙ:
what turns a random vector over the outputs into a backward pass whose squared weight
gradient is an unbiased sample of every layer's Gauss-Newton block trace at once.

The losses of loss.py are means of per-sample terms, so the Hessian is block diagonal
over the samples; a block is read off with one double backward through the loss alone
per output element of a sample (no pass through the model). They are convex in the
outputs (cross entropy and the KL to a softmax in the logits, the squared error), so the
blocks are positive semi-definite and the eigenvalues clamped at zero are round-off.
"""
from __future__ import annotations

from typing import Callable

import torch

MAX_OUTPUTS_PER_SAMPLE = 1024  # one loss-only double backward each; beyond, a dense per-sample block is not cheap


class OutputCurvature:
    def __init__(self, outputs: tuple, loss_of_outputs: Callable[[tuple], torch.Tensor]):
        """`outputs`: the model's outputs on one batch (samples along dim 0); `loss_of_outputs`
        computes the loss from outputs of those shapes."""
        self.float_outputs = [i for i, o in enumerate(outputs) if o.is_floating_point()]  # what cotangents cover
        self.shapes = [outputs[i].shape for i in self.float_outputs]
        flat = torch.cat([outputs[i].detach().reshape(len(outputs[i]), -1) for i in self.float_outputs], 1)
        flat.requires_grad_(True)
        rebuilt = list(outputs)
        for i, part in zip(self.float_outputs, self._split(flat)):
            rebuilt[i] = part
        (gradient,) = torch.autograd.grad(loss_of_outputs(tuple(rebuilt)), flat, create_graph=True)
        samples, width = flat.shape
        blocks = torch.zeros(samples, width, width, dtype=torch.float64)
        for d in range(width if gradient.requires_grad else 0):  # a loss linear in the outputs has none
            (row,) = torch.autograd.grad(gradient[:, d].sum(), flat, retain_graph=d + 1 < width,
                                         allow_unused=True, materialize_grads=True)
            blocks[:, d] = row.double()
        eigenvalues, vectors = torch.linalg.eigh((blocks + blocks.transpose(1, 2)) / 2)
        self.factors = (vectors * eigenvalues.clamp(min=0).sqrt().unsqueeze(1)).to(flat.dtype)

    def cotangents(self, generator: torch.Generator) -> tuple:
        """Fₙuₙ for a Rademacher u over every sample's outputs, shaped like the float outputs."""
        samples, width, _ = self.factors.shape
        u = torch.randint(0, 2, (samples, width, 1), generator=generator).to(self.factors.dtype) * 2 - 1
        return tuple(self._split((self.factors @ u).squeeze(2)))

    def _split(self, flat: torch.Tensor) -> list:
        sizes = [int(torch.Size(s[1:]).numel()) for s in self.shapes]
        return [part.reshape(s) for part, s in zip(torch.split(flat, sizes, 1), self.shapes)]


def factorable(outputs: tuple) -> bool:
    """Whether OutputCurvature can be formed for outputs like these: samples along dim 0 and
    features after it (the KL of a 1-D output is a softmax across the samples: no blocks),
    not image-sized."""
    floats = [o for o in outputs if o.is_floating_point()]
    return bool(floats) and all(o.ndim >= 2 for o in floats) and \
        sum(o[0].numel() for o in floats) <= MAX_OUTPUTS_PER_SAMPLE
