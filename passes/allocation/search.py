"""`search{method=bayes, trials=30, budget.size=..., budget.bops=..., budget.latency=...,
choices=[2,4,8], seed=0, samples=256, batch=64, activations=quantized, finetune_epochs=0,
finetune_lr=1e-4, storage=URL, study=NAME}`: one weight width per layer, chosen by
measuring, within the same budgets as `allocate-bits`.

The ILP's allocation (allocate-bits on the layers' `q.sens`) is the first trial; then
Optuna's TPE sampler, seeded by `seed`, proposes configurations over the widths the
target can run (tied layers share one variable). Each configuration within budget is
measured on `samples` validation samples from `ctx.calibration` (task loss with labels,
else KL to the float model): by default quantized as the pipeline will quantize it, at
the calibrated activation ranges, after `finetune_epochs` of LSQ when asked
(quantized_loss.py); with `activations=float` only the weights are fake-quantized
(measured_loss.py, cheaper). Those over budget are pruned unmeasured and never chosen
(bayes.py). `storage` (an Optuna RDB URL, e.g. sqlite:///search.db or PostgreSQL) with
`study` shares one study between processes or machines: each runs its `trials`, all
learn from all, and each writes the best allocation of the whole study. Writes `q.bits` of the
configuration of least measured loss, which is never worse than the ILP's.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import ClassVar, Optional

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
from .quantized_loss import QuantizedLoss

METHODS = ("bayes",)
ACTIVATIONS = ("quantized", "float")


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
    activations: str = "quantized"
    finetune_epochs: int = 0
    finetune_lr: float = 1e-4
    storage: Optional[str] = None
    study: Optional[str] = None

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"unknown search method {self.method!r}; expected one of {', '.join(METHODS)}")
        if self.activations not in ACTIVATIONS:
            raise ValueError(f"activations={self.activations!r}; expected one of {', '.join(ACTIVATIONS)}")
        if self.finetune_epochs < 0:
            raise ValueError(f"finetune_epochs must be at least 0, got {self.finetune_epochs}")
        if self.finetune_epochs and self.activations == "float":
            raise ValueError("finetune_epochs fine-tunes the quantized model: it needs activations=quantized")
        if self.storage and not self.study:
            raise ValueError(f"storage={self.storage} needs study=NAME: processes share a study by its name")
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
        batches = sensitivity_batches(ctx, graph, self.samples, self.batch)
        if self.activations == "quantized":
            measure = QuantizedLoss(graph, batches, ctx, self.finetune_epochs, self.finetune_lr)
        else:
            measure = MeasuredLoss(graph, layers, batches, target_symmetry(ctx)[0])
        result = tpe_search(problem, measure, start, self.trials, self.seed, key=lambda m: m.loss,
                            storage=self.storage, study_name=self.study)
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
