"""accuracy-control: int8 where it costs no accuracy, float where it does (NNCF's
quantize_with_accuracy_control). Runs after calibrate, before quantize.

Options: `max_drop` (the largest metric drop from the float model allowed, in the
metric's units), `max_layers` (at most this many layers kept float; 0: no limit),
`trial` (the passes a trial quantization runs: the pipeline's quantize and what follows
it before lower; qcompiler.compile fills it in), `samples` (calibration samples the
ranking runs on), `strict` (raise instead of warning when the bound is out of reach).
The validation data and metric come from PassContext.validation (validation.py).

The float graph and the fully quantized one are scored; if the drop exceeds `max_drop`,
the layers are ranked by the noise they add (ranking.py) and kept float in that order
until the metric says the drop is within bounds (search.py). The chosen layers get
`q.keep_float = true`, which the real quantize honours; when the bound cannot be reached
the best set found is kept and a warning names the best reachable drop.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from qcompiler.passmanager import Pass, PassResult, parse_pipeline, register_pass
from qcompiler.pipelines import split

from .errors import AccuracyControlError
from .ranking import candidate_layers, rank_layers
from .search import search
from .trials import Trials, mark
from .validation import Validation


@register_pass
@dataclass(frozen=True)
class AccuracyControl(Pass):
    name: ClassVar[str] = "accuracy-control"
    max_drop: float = 0.01
    max_layers: int = 0
    trial: Any = "quantize"
    samples: int = 16
    strict: bool = False

    def __post_init__(self):
        if self.max_drop < 0:  # the pipeline parser has checked the types
            raise AccuracyControlError(f"accuracy-control: max_drop must be >= 0, got {self.max_drop!r}")
        if self.max_layers < 0 or self.samples < 1:
            raise AccuracyControlError(f"accuracy-control: max_layers must be >= 0 and samples >= 1, got "
                                       f"{self.max_layers!r} and {self.samples!r}")
        object.__setattr__(self, "trial", tuple(p if isinstance(p, str) else p.describe() for p in split(self.trial)))
        parse_pipeline(list(self.trial))  # a bad trial pipeline fails here, naming its pass

    def describe(self) -> str:
        return (f"{self.name}{{max_drop={self.max_drop}, max_layers={self.max_layers}, "
                f"trial=[{', '.join(self.trial)}], samples={self.samples}, strict={self.strict}}}")

    def run(self, graph, ctx) -> PassResult:
        validation = Validation.from_context(ctx)
        trials = Trials(graph, list(self.trial), validation, ctx)
        float_score = validation.score(graph)
        candidates = candidate_layers(graph)
        ranked = [name for name, _ in rank_layers(graph, trials.quantized(()), candidates, ctx.calibration,
                                                  self.samples)]
        outcome = search(trials, ranked[:self.max_layers or None], float_score, self.max_drop, ctx.progress)
        mark(graph, outcome.kept)
        stats = {"float_score": float_score, "drop_before": float_score - outcome.quantized_score,
                 "drop_after": float_score - outcome.score, "layers_kept_float": len(outcome.kept),
                 "candidates": len(candidates), "trials": len(trials.scores)}
        self._report(outcome, float_score, ctx)
        return PassResult(bool(outcome.kept), stats)

    def _report(self, outcome, float_score: float, ctx) -> None:
        layers = ", ".join("%" + name for name in outcome.kept) or "none"
        before, after = float_score - outcome.quantized_score, float_score - outcome.score
        if outcome.reached:
            ctx.note(f"metric drop {before:.4g} quantized -> {after:.4g} with "
                     f"{len(outcome.kept)} layer(s) kept float ({layers}); max_drop {self.max_drop:g}")
            return
        limit = f"the {self.max_layers} layer(s) max_layers allows" if self.max_layers else "every layer"
        message = (f"max_drop {self.max_drop:g} is out of reach with {limit}: the best drop "
                   f"reached is {after:.4g} (float {float_score:.4g}, quantized {outcome.quantized_score:.4g}) "
                   f"with {len(outcome.kept)} layer(s) kept float ({layers})")
        if self.strict:
            raise AccuracyControlError(message)
        ctx.warn(message)
