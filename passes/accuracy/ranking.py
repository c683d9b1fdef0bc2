"""The order the search tries layers in: each unit's measured contribution to the output
error, by float-one trials on a few calibration samples.

A unit is a layer with the layers reading its result (directly or through pass-through
ops): a layer kept float alone still has its result quantized where an int8 reader
reads it, so only the unit removes that activation's rounding, the damage a wide
(minmax) range does. A float-one trial is the trial quantization with one unit kept
float, run on the ranking samples; its gain is how much the relative squared error of
the graph outputs (against the float graph's) falls from the fully quantized graph's.
This measures what keeping the layers float does downstream, which a layer's own noise
ratio did not: on PP-OCRv4 rec that guide needed 44 of 166 layers float to undo a drop.

One trial per unit on a model of hundreds is most of the cost, so units are measured in
two rounds (adaptive group testing): contiguous groups of about √n units in graph order
are kept float together, and only the units of the groups that hold most of the total
gain are then measured one by one. Those come first, by their own gain; the others
follow by their group's gain; a layer already in an earlier unit is not repeated. The
metric, not this order, decides which layers stay float."""
from __future__ import annotations

import math

import numpy as np

from qcompiler.ir.core import Graph
from qcompiler.runtime.torch import run_torch

from ..calibration.data import calibration_batches
from ..quantize.op_classes import PASS_THROUGH_OPS, is_integer_capable
from .trials import Trials

# the groups measured one layer at a time hold at least this share of the groups' total gain
GAIN_COVERED = 0.8


def candidate_layers(graph: Graph) -> list:
    """Names (first results) of the layers quantize would run on integers, in graph order."""
    return [node.outputs[0].name for node in graph.nodes
            if node.op not in PASS_THROUGH_OPS and is_integer_capable(node)]


def units(graph: Graph, candidates: list) -> list:
    """Per candidate, in graph order: (the layer, then the candidates reading its result)."""
    chosen = set(candidates)

    def readers(value) -> list:
        found = []
        for node, _ in value.uses:
            if node.op in PASS_THROUGH_OPS:
                found += [r for out in node.outputs for r in readers(out)]
            elif node.outputs and node.outputs[0].name in chosen:
                found.append(node.outputs[0].name)
        return found

    results = {node.outputs[0].name: node.outputs for node in graph.nodes if node.outputs}
    return [tuple(dict.fromkeys([name] + [r for out in results[name] for r in readers(out)]))
            for name in candidates]


class OutputError:
    """Relative squared error of a trial's graph outputs on the ranking samples, memoized."""

    def __init__(self, trials: Trials, calibration, samples: int):
        batches, _ = calibration_batches(calibration, trials.graph, samples=samples, batch=samples)
        self.trials, self.inputs = trials, next(iter(batches))  # an empty stream is a CalibrationError saying so
        self.reference = [y.astype(np.float64) for y in run_torch(trials.graph, self.inputs)]
        self.errors: dict = {}

    def __call__(self, kept) -> float:
        key = frozenset(kept)
        if key not in self.errors:
            outputs = run_torch(self.trials.quantized(key), self.inputs)
            self.errors[key] = sum(float(((y - ref) ** 2).sum() / max((ref ** 2).sum(), np.finfo(np.float64).tiny))
                                   for y, ref in zip(outputs, self.reference))
        return self.errors[key]


def rank_layers(error: OutputError, units: list, progress) -> list:
    """(layer, gain) for every layer of `units`, in the order the search tries them; gain
    is the measured gain of the unit that brought the layer in, or None for a unit
    measured only with its group."""
    base = error(())
    size = max(1, math.ceil(math.sqrt(len(units))))
    groups = [units[i:i + size] for i in range(0, len(units), size)]
    group_gain = [base - error(_layers(group)) for group in
                  progress.iterate(groups, desc="accuracy-control: ranking groups")]
    order = sorted(range(len(groups)), key=lambda k: -group_gain[k])
    total = sum(max(gain, 0.0) for gain in group_gain)
    measured, covered = [], 0.0
    for k in order:
        if group_gain[k] <= 0 or (measured and covered >= GAIN_COVERED * total):
            break
        measured.append(k)
        covered += group_gain[k]
    own = [(unit, base - error(unit)) for unit in
           progress.iterate([u for k in measured for u in groups[k]], desc="accuracy-control: ranking units")]
    ranked = sorted(own, key=lambda item: -item[1]) + [(u, None) for k in order if k not in measured for u in groups[k]]
    seen: dict = {}
    for unit, gain in ranked:
        for name in unit:
            seen.setdefault(name, gain)
    return list(seen.items())


def _layers(group: list) -> tuple:
    return tuple(dict.fromkeys(name for unit in group for name in unit))
