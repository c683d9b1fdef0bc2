"""Bit reallocation during QAT: `qat{bitopt=qbitopt|bmpq, budget.size=60%, every=K, choices=[2,4,8], freeze_after=F}`.

The sensitivities of every trained layer at every width come from the gradients the
training steps compute (gradient_tap.py): QBitOpt's Fisher score (qbitopt.py) every
`every` steps, BMPQ's bit-gradient score (passes/sensitivity/bmpq.py) at the end of
each epoch. Each reallocation writes them as `q.sens` on the layers and solves the
allocation ILP `allocate-bits` solves (layer_options.allocation_problem, ilp.solve:
the target's widths per op, tied layers, budgets as allocate-bits reads them), so the
budget holds at every reallocation; then the quantizers of the layers whose width
changed are switched in place (bit_switch.py). Before the first training step, one
allocation from `every` gradient-only batches puts the model within budget from the
start. Reallocation stops after the first `freeze_after` fraction of the training
steps (search, then train): the widths it ends at then train for the rest of the run,
at an lr the schedule has not yet decayed (bench/RESULTS.md "QBitOpt reaching its
widths early" measures 1/3 against 2/3). `finish` writes the widths into the graph (`q.bits`, the weights' storage) for
write_back, so lowering and both backends deploy them unchanged.

Budgets: weight size only (bytes, or a percentage of the size with every trained
layer at its widest choice); bops and latency would need the graph's activation widths
in the cost model, which allocate-bits costs at the target's default.
"""
from __future__ import annotations

import dataclasses
import math
from collections import Counter

import torch

from qcompiler.ir.types import QuantType
from qcompiler.targets.target import get_target

from ..allocation.budgets import parse_budget
from ..allocation.ilp import RESOLUTION, solve
from ..allocation.layer_options import allocation_problem
from ..calibration.weight_operands import WeightUse
from ..quantize.choices import WEIGHT_STORAGE
from ..sensitivity.bmpq import bmpq_scores, plane_magnitudes
from ..sensitivity.layers import Layer
from .bit_switch import candidate_step, check_symmetric, integer_range, switch
from .errors import QATError
from .gradient_tap import GradientTap
from .trained_weights import is_binary
from .losses import needs_teacher, training_loss
from .qbitopt import qbitopt_scores

BITOPT = ("none", "qbitopt", "bmpq")


def check_options(bitopt: str, budget: dict, every: int, choices: tuple, freeze_after: float) -> None:
    if bitopt not in BITOPT:
        raise QATError(f"qat: bitopt={bitopt!r}; expected one of {', '.join(BITOPT)}")
    if bitopt == "none":
        return
    if set(budget) != {"size"}:
        raise QATError(f"qat: bitopt={bitopt} needs budget.size=... (and no other budget; got "
                       f"{sorted('budget.' + r for r in budget) or 'none'})")
    parse_budget("size", budget["size"])
    if every < 1:
        raise QATError(f"qat: every={every} must be at least 1")
    if not 0 < freeze_after <= 1:
        raise QATError(f"qat: freeze_after={freeze_after} must be a fraction of the training steps in (0, 1]")
    for b in choices:
        integer_range(b, False)


def last_reallocation_step(freeze_after: float, total_steps: int) -> int:
    """The last step at which widths may change: the step nearest `freeze_after` of
    `total_steps` (nearest, so that a fraction written with a few digits, 0.333 of 96,
    means step 32 as 1/3 does)."""
    return math.floor(freeze_after * total_steps + 0.5)


class BitReallocation:
    def __init__(self, graph, trained, method: str, budget: dict, every: int, choices: tuple, last_step: int, ctx):
        """`last_step`: the last training step (counted from 1) after which widths may change."""
        self.graph, self.trained, self.method, self.every, self.ctx = graph, trained, method, every, ctx
        self.last_step = last_step
        self.choices, self.budget = tuple(sorted(choices)), {"size": parse_budget("size", budget["size"])}
        self.target = get_target(ctx.target or "generic")
        # binary (b1) weights keep their width: switching to and from a sign is not a step change
        self.steps = {name: entry for name, entry in trained.weight_steps.items() if not is_binary(entry[0])}
        self.layers, self.bits = [], {}
        for name, (weight, parameter, step) in self.steps.items():
            check_symmetric(step, name)
            axis = weight.value.type.axis
            self.layers.append(Layer(weight.layer, (WeightUse(weight.value, weight.layer, axis),)))
            self.bits[name] = int(weight.layer.attrs["q.bits"])  # the width, which its container may exceed
        self.tap = GradientTap({name: step for name, (_, _, step) in self.steps.items()})
        self.history: list = []
        self.planes: dict = {}  # BMPQ: weight name -> bit-gradient magnitude per plane (mean per backward pass)

    def warm_up(self, teacher, data, loss) -> None:
        """Gradients of `every` batches, no update, then the first allocation."""
        module = self.trained.module
        for k, (inputs, labels) in enumerate(data.epoch()):
            if k == self.every:
                break
            reference = None
            if teacher is not None and needs_teacher(loss, labels):
                with torch.no_grad():
                    reference = list(teacher(*inputs))
            training_loss(loss, list(module(*inputs)), labels, reference).backward()
        module.zero_grad(set_to_none=True)
        self.allocate(step=0, epoch=0)

    def after_step(self, epoch: int, step: int) -> list:
        """The step-size parameters of the layers that changed width (see allocate)."""
        if step == self.last_step + 1:
            self.ctx.note(f"qat {self.method}: widths fixed from step {step} (freeze_after), " + self._mix())
        if self.method == "qbitopt" and step % self.every == 0 and step <= self.last_step:
            return self.allocate(step, epoch)
        return []

    def after_epoch(self, epoch: int, step: int) -> list:
        if self.method == "bmpq" and step <= self.last_step:
            return self.allocate(step, epoch)
        return []

    def allocate(self, step: int, epoch: int) -> list:
        """Re-solve and switch; returns the step-size parameters of the layers that changed
        width, whose optimizer state must start again: Adam's moments were gathered at the
        old width, on another step, and would push the new one by the old one's momentum."""
        scores = {name: self._scores(name) for name in self.steps}
        for layer, name in zip(self.layers, self.steps):
            layer.node.attrs["q.sens"] = {str(b): s for b, s in scores[name].items()}
        problem = allocation_problem(self.graph, self.layers, self.target, self.choices, None, self.budget,
                                     reader="qat{bitopt=...}")
        allocation = solve(problem)
        size, limit = allocation.costs["size"], problem.limits["size"]
        if size > limit + RESOLUTION * limit:
            raise QATError(f"qat: the allocation at step {step} costs {size:.6g} B, over the budget {limit:.6g} B")
        switched = []
        for (name, (weight, parameter, step_size)), bits in zip(self.steps.items(), allocation.choices):
            if bits != self.bits[name]:
                qmin, qmax = integer_range(bits, bool(weight.layer.attrs.get("q.reduce_range")))
                switch(step_size, parameter.detach(), qmin, qmax, _elements_per_step(weight))
                self.bits[name] = bits
                switched.append(step_size)
        changed = len(switched)
        position = {id(n): i for i, n in enumerate(self.graph.nodes)}
        layers = sorted(self.steps.items(), key=lambda item: position[id(item[1][0].layer)])
        bits = {w.layer.outputs[0].name: self.bits[name] for name, (w, _, _) in layers}  # in graph order
        entry = {"step": step, "epoch": epoch, "bits": bits, "size": size, "budget": limit, "changed": changed}
        if self.method == "bmpq":  # what the scores came from, per layer: LSB first, at the width it had
            entry["bit_gradients"] = {w.layer.outputs[0].name: self.planes[name] for name, (w, _, _) in layers}
        self.history.append(entry)
        self.ctx.note(f"qat {self.method} reallocation at step {step}: {changed} layers changed width, size "
                      f"{size:.0f} of {limit:.0f} B, " + self._mix())
        self.tap.reset()
        return [p for step_size in switched for p in step_size.parameters()]

    def _mix(self) -> str:
        return " ".join(f"{b}-bit:{n}" for b, n in sorted(Counter(self.bits.values()).items()))

    def _scores(self, name: str) -> dict:
        weight, parameter, step = self.steps[name]
        array = parameter.detach()
        reduce = bool(weight.layer.attrs.get("q.reduce_range"))
        candidates = {}
        for b in self.choices:
            qmin, qmax = integer_range(b, reduce)
            candidates[b] = (candidate_step(array, step, qmin, qmax), qmin, qmax)
        passes = max(self.tap.passes[name], 1)
        if name not in self.tap.squares:
            raise QATError(f"qat: no gradient reached weight %{name} since the last reallocation (every="
                           f"{self.every}); is it used by the graph's outputs?")
        if self.method == "qbitopt":
            return qbitopt_scores(self.tap.squares[name] / passes, array, candidates)
        lsb = self.tap.lsb_gradients[name] / passes
        self.planes[name] = plane_magnitudes(lsb, self.bits[name])
        return bmpq_scores(lsb, step.scale().detach(), {b: s for b, (s, _, _) in candidates.items()})

    def finish(self) -> None:
        """The widths into the graph: each weight's storage and its layer's `q.bits`;
        the trained module's entries get the new integer range, which write_back clips to."""
        self.tap.remove()
        for name, (weight, parameter, step) in list(self.steps.items()):
            bits = self.bits[name]
            t: QuantType = weight.value.type
            weight.value.type = dataclasses.replace(t, storage=WEIGHT_STORAGE[bits])
            weight.layer.attrs["q.bits"] = bits
            self.trained.weight_steps[name] = (dataclasses.replace(weight, qmin=step.qmin, qmax=step.qmax),
                                               parameter, step)


def _elements_per_step(weight) -> int:
    shape = weight.float_value.shape
    axis = weight.value.type.axis
    return int(weight.float_value.size // (shape[axis] if axis is not None else 1))
