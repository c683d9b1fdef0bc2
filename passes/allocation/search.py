"""`search{method=bayes, trials=30, budget.size=..., budget.bops=..., budget.latency=...,
choices=[2,4,8], seed=0, samples=256, batch=64}`: one weight width per layer, chosen by
measuring, within the same budgets as `allocate-bits`.

The ILP's allocation (allocate-bits on the layers' `q.sens`) is the first trial; then
Optuna's TPE sampler, seeded by `seed`, proposes configurations over the widths the
target can run (tied layers share one variable). Each configuration within budget is
measured (measured_loss.py: weights fake-quantized, loss on `samples` validation samples
from `ctx.calibration`, task loss with labels, else KL to the float model); those over
budget are pruned unmeasured and never chosen (bayes.py). Writes `q.bits` of the
configuration of least measured loss, which is never worse than the ILP's.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import ClassVar

from qcompiler.passmanager import Pass, PassContext, PassResult, register_pass
from qcompiler.targets import get_target

from ..calibration.symmetry import target_symmetry
from ..quantize.choices import WEIGHT_STORAGE
from ..sensitivity.data import sensitivity_batches
from ..sensitivity.layers import quantizable_layers
from .bayes import tpe_search
from .budgets import parse_budget
from .errors import AllocationError
from .ilp import solve
from .layer_options import allocation_problem, write_choices
from .measured_loss import MeasuredLoss

METHODS = ("bayes",)


@register_pass
@dataclass(frozen=True)
class SearchBits(Pass):
    name: ClassVar[str] = "search"
    method: str = "bayes"
    trials: int = 30
    budget: dict = field(default_factory=dict)
    choices: tuple[int, ...] = (2, 4, 8)
    seed: int = 0
    samples: int = 256
    batch: int = 64

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"unknown search method {self.method!r}; expected one of {', '.join(METHODS)}")
        for resource, value in self.budget.items():
            parse_budget(resource, value)
        object.__setattr__(self, "choices", tuple(self.choices))
        if not self.choices or any(b not in WEIGHT_STORAGE for b in self.choices):
            raise ValueError(f"choices={list(self.choices)}: weight widths must be among {sorted(WEIGHT_STORAGE)}")
        for option in ("trials", "samples", "batch"):
            if getattr(self, option) < 1:
                raise ValueError(f"{option} must be at least 1, got {getattr(self, option)}")

    def run(self, graph, ctx: PassContext) -> PassResult:
        layers = quantizable_layers(graph)
        if not layers:
            ctx.note("no layer with constant float weights: nothing to search")
            return PassResult(False, {"layers": 0})
        if ctx.calibration is None:
            raise AllocationError("search measures losses on data: pass calibration=... (batches of (inputs, labels) "
                                  "give the task loss; without labels the KL to the float outputs is used)")
        target = get_target(ctx.target or "generic")
        budgets = {r: parse_budget(r, v) for r, v in self.budget.items()}
        if not budgets:
            ctx.note("no budget given: the search is over every configuration")
        problem = allocation_problem(graph, layers, target, self.choices, None, budgets, reader="search")
        start = solve(problem).choices
        measure = MeasuredLoss(graph, layers, sensitivity_batches(ctx, graph, self.samples, self.batch),
                               target_symmetry(ctx)[0])
        result = tpe_search(problem, measure, start, self.trials, self.seed, key=lambda m: m.loss)
        write_choices(layers, result.best.choices, False)
        best, ilp = result.best, result.start
        stats = {"layers": len(layers), "trials": len(result.trials), "feasible": result.feasible,
                 "pruned": len(result.trials) - result.feasible, "best_trial": best.number,
                 "loss": best.value.loss, "ilp_loss": ilp.value.loss, **best.costs,
                 "mix": _mix(best.choices), "ilp_mix": _mix(ilp.choices)}
        if best.value.accuracy is not None:
            stats.update(accuracy=best.value.accuracy, ilp_accuracy=ilp.value.accuracy)
        return PassResult(True, stats)


def _mix(choices) -> str:
    """How many layers took each width, e.g. '2:1 4:3 8:2'."""
    return " ".join(f"{k}:{n}" for k, n in sorted(Counter(map(str, choices)).items()))
