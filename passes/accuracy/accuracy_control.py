"""accuracy-control: int8 where it costs no accuracy, float where it does (NNCF's
quantize_with_accuracy_control). Runs after calibrate, before quantize.

Options: `max_drop` (the largest metric drop from the float model allowed, in the
metric's units), `max_layers` (at most this many layers kept float; 0: no limit),
`trial` (the passes a trial quantization runs: the pipeline's quantize and what follows
it before lower; qcompiler.compile fills it in), `samples` (calibration samples the
ranking runs on), `significance` (with per-sample scores, a drop exceeds max_drop only
by more than this many standard errors of the paired differences; 0: point estimates),
`strict` (raise instead of warning when the bound is out of reach).
The validation data and metric come from PassContext.validation (validation.py).

The float graph and the fully quantized one are scored; if the drop exceeds `max_drop`
(significance.py), the layers are ranked by their measured contribution to the output
error (ranking.py: a layer with its readers, which is what removes an activation's
rounding) and kept float in that order until the metric says the drop is
within bounds (search.py). The chosen layers get `q.keep_float = true`, which the real
quantize honours; when the bound cannot be reached the best set found is kept and a
warning names the best reachable drop. Float is the only higher precision tried: no
target lists 16-bit activation storage (qcompiler/targets/*.toml).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from qcompiler.passmanager import Pass, PassResult, parse_pipeline, register_pass
from qcompiler.pipelines import split

from .errors import AccuracyControlError
from .ranking import OutputError, candidate_layers, rank_layers, units
from .search import search
from .significance import Judge
from .trials import Trials, mark
from .validation import Validation


@register_pass
@dataclass(frozen=True)
class AccuracyControl(Pass):
    name: ClassVar[str] = "accuracy-control"
    max_drop: float = 0.01
    max_layers: int = 0
    trial: Any = "quantize"
    samples: int = 4
    significance: float = 2.0
    strict: bool = False

    def __post_init__(self):
        if self.max_drop < 0 or self.significance < 0:  # the pipeline parser has checked the types
            raise AccuracyControlError(f"accuracy-control: max_drop and significance must be >= 0, got "
                                       f"{self.max_drop!r} and {self.significance!r}")
        if self.max_layers < 0 or self.samples < 1:
            raise AccuracyControlError(f"accuracy-control: max_layers must be >= 0 and samples >= 1, got "
                                       f"{self.max_layers!r} and {self.samples!r}")
        object.__setattr__(self, "trial", tuple(p if isinstance(p, str) else p.describe() for p in split(self.trial)))
        parse_pipeline(list(self.trial))  # a bad trial pipeline fails here, naming its pass

    def describe(self) -> str:
        return (f"{self.name}{{max_drop={self.max_drop}, max_layers={self.max_layers}, "
                f"trial=[{', '.join(self.trial)}], samples={self.samples}, significance={self.significance}, "
                f"strict={self.strict}}}")

    def run(self, graph, ctx) -> PassResult:
        validation = Validation.from_context(ctx)
        trials = Trials(graph, list(self.trial), validation, ctx)
        judge = Judge(validation.score(graph), self.max_drop, self.significance)
        quantized = trials.score(())
        self._check_resolution(judge, quantized, ctx)
        candidates = candidate_layers(graph)
        ranked = [] if judge.within(quantized) else [
            name for name, _ in rank_layers(OutputError(trials, ctx.calibration, self.samples),
                                            units(graph, candidates), ctx.progress)]
        outcome = search(trials, ranked[:self.max_layers or None], judge, ctx.progress)
        mark(graph, outcome.kept)
        stats = {"float_score": judge.reference.value, "drop_before": judge.drop(outcome.quantized),
                 "drop_after": judge.drop(outcome.score), "noise_after": judge.noise(outcome.score),
                 "layers_kept_float": len(outcome.kept), "candidates": len(candidates), "trials": len(trials.scores)}
        self._report(outcome, judge, ctx)
        return PassResult(bool(outcome.kept), stats)

    def _check_resolution(self, judge: Judge, quantized, ctx) -> None:
        weight = judge.sample_weight(quantized)
        if weight is None:
            ctx.note("the validation metric returned one number: drops are judged by their point estimate; "
                     "return one score per sample to have them judged against the validation noise")
        elif 0 < self.max_drop < weight:
            ctx.warn(f"max_drop {self.max_drop:g} is below what one of the {quantized.samples.size} validation "
                     f"samples moves the metric ({weight:.4g}): use more samples or a finer per-sample metric")

    def _report(self, outcome, judge: Judge, ctx) -> None:
        layers = ", ".join("%" + name for name in outcome.kept) or "none"
        before, after = judge.drop(outcome.quantized), judge.drop(outcome.score)
        noise = judge.noise(outcome.score)
        within = f" (+{noise:.4g} validation noise)" if noise else ""
        if outcome.reached:
            ctx.note(f"metric drop {before:.4g} quantized -> {after:.4g} with "
                     f"{len(outcome.kept)} layer(s) kept float ({layers}); max_drop {self.max_drop:g}{within}")
            return
        limit = f"the {self.max_layers} layer(s) max_layers allows" if self.max_layers else "every layer"
        message = (f"max_drop {self.max_drop:g}{within} is out of reach with {limit}: the best drop reached is "
                   f"{after:.4g} (float {judge.reference.value:.4g}, quantized {outcome.quantized.value:.4g}) "
                   f"with {len(outcome.kept)} layer(s) kept float ({layers})")
        if self.strict:
            raise AccuracyControlError(message)
        ctx.warn(message)
