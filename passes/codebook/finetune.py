"""codebook-finetune: short training of the codewords with the kernels' indices fixed,
through the torch executor, followed by index re-assignment rounds.

The loss is distillation, so no labels are needed: the graph's outputs are compared
with those of the same graph with the float weights back in place (`codebook-quantize`
keeps them in the constants' meta cache; run both in one pipeline), by mean squared
difference (`loss=mse`, any model) or, for classifiers, by the KL divergence of the
softmax over the last axis at `temperature` (`loss=kl`, Hinton et al.'s distillation,
which tracks accuracy more closely than the logits' squared error).

Each round first re-assigns every kernel to the codeword that changes its layer's
output least on the data (assign.py), kept only if that lowers the loss, then trains.
Codebooks shared by several layers are one parameter. The scale of a codebook stays
fixed, so the trained codewords are exactly the integers the constants then store.

Options: `epochs` per round over the calibration data, `rounds`, `lr` (Adam, relative
to each codebook's scale: a step of `lr` moves a codeword by lr·scale, decayed on a
cosine over the whole run), `loss`, `temperature`, `batch` and `samples` (cap on the
calibration samples).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import ClassVar, Optional

import numpy as np
import torch

from qcompiler.ir.codebook import CODEBOOK
from qcompiler.ir.core import Graph, Node
from qcompiler.ir.dense import Dense
from qcompiler.passmanager import Pass, PassContext, PassResult, register_pass
from qcompiler.runtime.codebook import CodebookWeight
from qcompiler.runtime.torch import to_torch

from ..calibration.data import calibration_batches
from .assign import patch_moments, weighted_nearest
from .errors import CodebookError
from .teacher import codebook_consts, teacher_graph, teacher_outputs


def squared_error(output, target, temperature):
    return torch.mean((output - target) ** 2)


def softmax_kl(output, target, temperature):
    t = temperature
    log_p = torch.nn.functional.log_softmax(output / t, dim=-1)
    log_q = torch.nn.functional.log_softmax(target / t, dim=-1)
    return torch.nn.functional.kl_div(log_p, log_q, reduction="batchmean", log_target=True) * t * t


LOSSES = {"mse": squared_error, "kl": softmax_kl}
MOMENT_BATCHES = 4  # batches the patch moments of re-assignment are measured on


@register_pass
@dataclass(frozen=True)
class CodebookFinetune(Pass):
    name: ClassVar[str] = "codebook-finetune"
    epochs: int = 10
    rounds: int = 2
    lr: float = 0.5
    loss: str = "mse"
    temperature: float = 2.0
    batch: int = 64
    samples: Optional[int] = None

    def __post_init__(self):
        for option in ("epochs", "rounds", "batch"):
            if getattr(self, option) < 1:
                raise CodebookError(f"codebook-finetune: {option}={getattr(self, option)} must be at least 1")
        if not self.lr > 0 or not self.temperature > 0:
            raise CodebookError(f"codebook-finetune: lr={self.lr} and temperature={self.temperature} must be > 0")
        if self.loss not in LOSSES:
            raise CodebookError(f"codebook-finetune: loss={self.loss!r}; expected one of {', '.join(LOSSES)}")

    def run(self, graph: Graph, ctx: PassContext) -> PassResult:
        consts = codebook_consts(graph)
        if not consts:
            ctx.note("no codebook weights to fine-tune")
            return PassResult(False, {"layers": 0})
        if ctx.calibration is None:
            raise CodebookError("codebook-finetune needs training inputs: pass calibration=... (the forms "
                                "calibrate accepts)")
        batches = [[torch.from_numpy(a) for a in arrays.values()]
                   for arrays in calibration_batches(ctx.calibration, graph, samples=self.samples, batch=self.batch)[0]]
        teacher = teacher_graph(graph, consts)
        targets = teacher_outputs(teacher, batches)
        torch.manual_seed(ctx.seed)
        student = to_torch(graph)
        modules = _tie_shared(student, consts)
        trainer = _Trainer(student, batches, targets, modules, self.lr, self.rounds * self.epochs * len(batches),
                           functools.partial(LOSSES[self.loss], temperature=self.temperature))
        moments = patch_moments(teacher, list(consts), batches[:MOMENT_BATCHES])
        assignment = {m: _assignment_problem(consts[m.value_name], moments) for m in modules}
        losses, kept = [trainer.loss()], 0
        for _ in range(self.rounds):
            kept += trainer.reassign(assignment)
            trainer.train(self.epochs)
            losses.append(trainer.loss())
        for m in modules:
            _write_back(consts[m.value_name], m)
        return PassResult(True, {"layers": len(consts), "loss_before": losses[0], "loss_after": losses[-1],
                                 "reassignments_kept": kept})


def _tie_shared(student: torch.nn.Module, consts: dict) -> list:
    """The codebook modules, with one Parameter per distinct codebook (share=model)."""
    modules = [m for m in student.modules() if isinstance(m, CodebookWeight)]
    first: dict = {}
    for m in modules:
        node = consts[m.value_name]
        owner = first.setdefault((node.attrs[CODEBOOK], m.scale.item()), m)
        if owner is not m:
            m.codebook = owner.codebook
    return modules


class _Trainer:
    def __init__(self, student, batches, targets, modules, lr, steps, distance):
        self.student, self.batches, self.targets, self.modules = student, batches, targets, modules
        self.distance = distance
        params = {id(m.codebook): (m.codebook, m.scale.item()) for m in modules}
        self.optimizer = torch.optim.Adam([{"params": [p], "lr": lr * s} for p, s in params.values()])
        # cosine decay over the whole fine-tuning: large moves first, settling at the end
        self.schedule = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, steps)

    def _loss(self, inputs, target) -> torch.Tensor:
        return sum(self.distance(o, t) for o, t in zip(self.student(*inputs), target))

    def loss(self) -> float:
        with torch.no_grad():
            return float(sum(self._loss(x, t) for x, t in zip(self.batches, self.targets)) / len(self.batches))

    def train(self, epochs: int) -> None:
        self.student.train()
        for _ in range(epochs):
            for x, t in zip(self.batches, self.targets):
                self.optimizer.zero_grad()
                self._loss(x, t).backward()
                self.optimizer.step()
                self.schedule.step()
        self.student.eval()

    def reassign(self, assignment: dict) -> int:
        """Every kernel to the codeword that changes its layer's output least (assign.py);
        kept (returns 1) only if the loss drops, else the indices are put back."""
        before, old = self.loss(), {m: m.indices.clone() for m in self.modules}
        with torch.no_grad():
            for m, (kernels, moments, groups) in assignment.items():
                codewords = m.codewords().numpy().reshape(len(m.codebook), -1).astype(np.float64)
                m.indices.copy_(torch.from_numpy(weighted_nearest(kernels, codewords, moments, groups)))
        if self.loss() < before:
            return 1
        with torch.no_grad():
            for m, indices in old.items():
                m.indices.copy_(indices)
        return 0


def _assignment_problem(const: Node, moments: dict) -> tuple:
    """(float kernels [Cout, Cin/g, k], patch moments [Cin, k, k], groups) of a weight."""
    w = const.meta["float_value"].astype(np.float64)
    groups = const.output.users[0].attrs.get("groups", 1)
    return w.reshape(w.shape[0], w.shape[1], -1), moments[const.output.name], groups


def _write_back(const: Node, m: CodebookWeight) -> None:
    old = const.attrs["value"].array
    const.attrs["value"] = Dense(m.indices.numpy().astype(old.dtype))
    const.attrs[CODEBOOK] = Dense(m.integer_codebook().astype(const.attrs[CODEBOOK].dtype))
