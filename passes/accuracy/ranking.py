"""The cheap guide: every candidate layer's own share of the output noise, from one run
of the float graph and one of the fully quantized graph on a few calibration samples.

A layer's noise ratio is ‖y_q − y‖² / ‖y‖² at its result; what the layer adds is that
ratio less the largest ratio among its activation operands (the noise it was handed).
Keeping a layer float removes its weight and result quantization and the quantize on
graph inputs it reads, which is what this difference measures. The metric, not this
ranking, decides which layers stay float; the ranking only orders the trials."""
from __future__ import annotations

import numpy as np

from qcompiler.ir.clone import clone
from qcompiler.ir.core import Graph
from qcompiler.ir.types import is_float
from qcompiler.runtime.torch import run_torch

from ..calibration.data import calibration_batches
from ..quantize.op_classes import PASS_THROUGH_OPS, is_integer_capable


def candidate_layers(graph: Graph) -> list:
    """Names (first results) of the layers quantize would run on integers."""
    return [node.outputs[0].name for node in graph.nodes
            if node.op not in PASS_THROUGH_OPS and is_integer_capable(node)]


def _probe(graph: Graph, names: list, inputs: dict) -> dict:
    """name -> value of the named results of `graph` on `inputs`."""
    g = clone(graph)
    values = {v.name: v for node in g.nodes for v in node.outputs}
    values.update({v.name: v for v in g.inputs})
    g.set_outputs([values[n] for n in names])
    return dict(zip(names, run_torch(g, inputs)))


def rank_layers(float_graph: Graph, quantized: Graph, candidates: list, calibration, samples: int) -> list:
    """(layer, added noise ratio), the noisiest first."""
    nodes = {node.outputs[0].name: node for node in float_graph.nodes if node.outputs}
    operands = {c: [v.name for v in nodes[c].inputs
                    if v is not None and is_float(v.type) and float_graph.const_value(v) is None]
                for c in candidates}
    names = sorted(set(candidates).union(*operands.values()))
    batches, _ = calibration_batches(calibration, float_graph, samples=samples, batch=samples)
    inputs = next(iter(batches))  # an empty stream is a CalibrationError saying so
    reference, noisy = _probe(float_graph, names, inputs), _probe(quantized, names, inputs)

    def ratio(name: str) -> float:
        ref = reference[name].astype(np.float64)
        return float(((noisy[name] - ref) ** 2).sum() / max((ref ** 2).sum(), np.finfo(np.float64).tiny))

    ratios = {n: ratio(n) for n in names}
    added = {c: ratios[c] - max((ratios[n] for n in operands[c]), default=0.0) for c in candidates}
    return sorted(added.items(), key=lambda item: -item[1])
