"""clip-search: output-aware clipping. Each activation's range is chosen among the ranges
the calibration methods give it by the error they cause at the end of its block, not by
the activation's own quantization error (docs/quantization.md, "Output-aware clipping").

Runs after `calibrate` and before `quantize`. Options: `methods` (the candidates besides
the calibrated range: each is `calibrate{method=m}` run on a copy of the graph),
`samples` (calibration samples those copies observe; none: all), `scored` (samples the
candidates are scored on, default 64), `depth` (layers after an activation whose outputs
score it; default 0: the graph outputs, which scored best on the digits CNN; a few layers
bound the cost on deep models), `trial` (the passes that build the fake-quant graph: the
pipeline's `quantize` and what follows it before `lower`), `percentile`.

Every candidate set of ranges is quantized once with the trial passes; a tie group (values
sharing parameters: a conv and the relu it absorbs, the operands of a concat, ...) takes
its types from the copy quantized with the method tried. Greedy in graph order, each
group keeps the candidate with the smallest error at the end of its window
(clip_windows.py), the calibrated range unless another is strictly better, with every
earlier group already at its choice. The winner's ranges are written back as `q.range`,
with `q.method` = the winning method and `q.clip = "output"`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Optional

import numpy as np
import torch

from qcompiler.ir.clone import clone
from qcompiler.ir.core import Graph
from qcompiler.ir.types import QuantType
from qcompiler.passmanager import Pass, PassResult, parse_pipeline, register_pass
from qcompiler.pipelines import split

from ..accuracy.trials import Trials
from ..quantize.absorb_relu import absorb_relus
from ..quantize.ties import tie_sets
from .calibrate import Calibrate
from .clip_windows import Group, WindowScorer
from .data import ACCEPTED, calibration_batches
from .errors import CalibrationError
from .observers import METHODS
from .symmetry import target_symmetry

CALIBRATED = "calibrated"  # the candidate `calibrate` recorded


@register_pass
@dataclass(frozen=True)
class ClipSearch(Pass):
    name: ClassVar[str] = "clip-search"
    methods: tuple = ("minmax",)
    samples: Optional[int] = None
    scored: int = 64
    depth: int = 0
    trial: Any = "quantize"
    percentile: float = 99.99

    def __post_init__(self):
        methods = (self.methods,) if isinstance(self.methods, str) else tuple(self.methods)
        unknown = [m for m in methods if m not in METHODS]
        if unknown or not methods:
            raise ValueError(f"clip-search: methods must be some of {', '.join(METHODS)}, got {list(methods)}")
        if self.scored < 1 or self.depth < 0 or (self.samples is not None and self.samples < 1):
            raise ValueError(f"clip-search: scored and samples must be >= 1 and depth >= 0, got scored="
                             f"{self.scored}, samples={self.samples}, depth={self.depth}")
        object.__setattr__(self, "methods", methods)
        object.__setattr__(self, "trial", tuple(p if isinstance(p, str) else p.describe() for p in split(self.trial)))
        parse_pipeline(list(self.trial))  # a bad trial pipeline fails here, naming its pass

    def describe(self) -> str:
        return (f"{self.name}{{methods=[{', '.join(self.methods)}], samples={self.samples}, scored={self.scored}, "
                f"depth={self.depth}, trial=[{', '.join(self.trial)}], percentile={self.percentile}}}")

    def run(self, graph: Graph, ctx) -> PassResult:
        calibrated_with = {n.attrs["q.method"] for n in graph.nodes if "q.method" in n.attrs and n.op != "const"}
        if not calibrated_with:
            raise CalibrationError("clip-search needs calibrated activation ranges: run calibrate before it")
        if ctx.calibration is None:
            raise CalibrationError(f"clip-search needs calibration data: pass calibration=... ({ACCEPTED})")
        ranged = {CALIBRATED: graph}
        for m in self.methods:
            if {m} != calibrated_with:
                ranged[m] = clone(graph)
                percentile = {"percentile": self.percentile} if m == "percentile" else {}  # the others refuse it
                Calibrate(method=m, samples=self.samples, **percentile).run(ranged[m], ctx)
        quantized = {m: Trials(g, list(self.trial), None, ctx).quantized(()) for m, g in ranged.items()}
        working = quantized.pop(CALIBRATED)
        groups = _groups(graph, working, quantized, target_symmetry(ctx)[1])
        with torch.no_grad():
            choices, evaluations = self._search(graph, working, groups, ctx)
        changed = _write_back(graph, ranged, groups, choices)
        stats = {"groups": len(groups), "evaluations": evaluations, "values_changed": changed}
        stats.update({f"chose_{m}": sum(c == m for c in choices) for m in ranged})
        return PassResult(changed > 0, stats)

    def _search(self, graph: Graph, working: Graph, groups: list, ctx) -> tuple:
        """The method each group keeps, in `groups` order, and the windows evaluated."""
        scorer = WindowScorer(working, graph, _scored_batches(ctx.calibration, graph, self.scored), self.depth)
        choices, evaluations = [], 0
        for group in ctx.progress.iterate(groups, desc="clip-search", total=len(groups)):
            scorer.advance(group.first)
            window = scorer.window(group)
            targets = scorer.targets(window)
            current = [scorer.by_name[name].type for _, name in group.members]
            best, best_error = CALIBRATED, scorer.error(window, targets)
            for method, types in group.candidates.items():
                scorer.set_types(group, types)
                error = scorer.error(window, targets)
                evaluations += 1
                if error < best_error:
                    best, best_error = method, error
            scorer.set_types(group, current if best == CALIBRATED else group.candidates[best])
            choices.append(best)
        return choices, evaluations + len(groups)


def _groups(graph: Graph, working: Graph, quantized: dict, symmetric: bool) -> list:
    """Tie groups of the quantized activations of `working` (as quantize forms them) whose
    types differ under some candidate, by first producer."""
    probe = clone(graph)
    absorb_relus(probe, symmetric)
    sets, by_name = tie_sets(probe, activation_symmetric=symmetric), {v.name: v for v in probe.values()}
    others = {m: {v.name: v.type for v in g.values()} for m, g in quantized.items()}
    groups: dict = {}
    for position, node in enumerate(n for n in working.nodes if n.op != "const"):
        for v in node.outputs:
            if not isinstance(v.type, QuantType):
                continue
            source = node.inputs[0].name if node.op == "quantize" else v.name  # an inserted quantize of an input
            key = sets.find(by_name[source]) if source in by_name else source
            group = groups.setdefault(key, Group())
            group.members.append((position, v.name))
            group.sources.add(source)
    kept, types_now = [], {v.name: v.type for v in working.values()}
    for group in groups.values():
        current = [types_now[name] for _, name in group.members]
        for m, types in others.items():
            proposed = [types.get(name) for _, name in group.members]
            if proposed != current and all(isinstance(t, QuantType) for t in proposed):
                group.candidates[m] = proposed
        if group.candidates:
            kept.append(group)
    return sorted(kept, key=lambda g: g.first)


def _scored_batches(calibration, graph: Graph, scored: int) -> list:
    """The first `scored` calibration samples as per-input tensors, batches of one shape
    concatenated (lines of different widths stay separate batches)."""
    batches, _ = calibration_batches(calibration, graph, samples=scored, batch=scored)
    by_shape: dict = {}
    for batch in batches:
        arrays = [np.asarray(batch[v.name], np.float32) for v in graph.inputs]
        by_shape.setdefault(tuple(a.shape[1:] for a in arrays), []).append(arrays)
    if not by_shape:
        raise CalibrationError("clip-search: the calibration data gave no samples to score on")
    return [[torch.from_numpy(np.concatenate(parts)) for parts in zip(*group)] for group in by_shape.values()]


def _write_back(graph: Graph, ranged: dict, groups: list, choices: list) -> int:
    """Copy each changed group's ranges from its winner's calibrated copy; the number of
    values whose range changed."""
    inputs = {v.name for v in graph.inputs}
    producers = {v.name: n for n in graph.nodes for v in n.outputs}
    changed = 0
    for group, method in zip(groups, choices):
        if method == CALIBRATED:
            continue
        source = ranged[method]
        source_producers = {v.name: n for n in source.nodes for v in n.outputs}
        for name in sorted(group.sources):
            if name in inputs:
                graph.input_attrs.setdefault(name, {})["q.range"] = source.input_attrs[name]["q.range"]
            else:
                producers[name].attrs.update({"q.range": source_producers[name].attrs["q.range"],
                                              "q.method": method, "q.clip": "output"})
            changed += 1
    return changed
