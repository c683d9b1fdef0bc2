"""The units adaround reconstructs one at a time: a single layer (AdaRound), or a block
(BRECQ): a run of nodes closed by an add or a concat (a residual or branch merge) or
after `block_layers` layers, whichever comes first. Opaque nodes (run in onnxruntime,
without gradients) end a block and belong to none; a run without a layer to round is
no unit. The nodes between units form plain segments (no weights to round), so the
graph is cut into consecutive segments that streams.py runs in order.

A segment's inputs are the values it reads that are produced before it (constants
excluded); its outputs are the values it produces that are read after it, or are
graph outputs.
"""
from __future__ import annotations

from dataclasses import dataclass

from qcompiler.ir.core import Graph
from qcompiler.ir.registry import is_opaque

MERGES = ("add", "concat")


@dataclass(frozen=True)
class Segment:
    nodes: tuple     # non-const nodes, consecutive in graph order
    weights: tuple   # float_weights.Weight of the layers whose rounding it learns (none: a plain segment)
    inputs: tuple
    outputs: tuple

    @property
    def label(self) -> str:
        """The segment's first layer (or node), by result name."""
        return (self.weights[0].layer if self.weights else self.nodes[0]).outputs[0].name


def partition(graph: Graph, weights: list, scope: str, block_layers: int) -> list:
    """The whole graph (its non-const nodes) as consecutive segments: the units, and
    plain segments between them."""
    by_layer = {id(w.layer): w for w in weights}
    runs, run = [], []
    for node in graph.nodes:
        if node.op == "const":
            continue
        unit_node = id(node) in by_layer
        if scope == "layer" and unit_node or is_opaque(node.op):
            runs += [run, [node]]
            run = []
            continue
        run.append(node)
        if scope == "block" and (node.op in MERGES or sum(id(n) in by_layer for n in run) == block_layers):
            runs.append(run)
            run = []
    runs.append(run)
    return [_segment(graph, r, by_layer) for r in _merge_plain(runs, by_layer)]


def segment_of(graph: Graph, nodes: list) -> Segment:
    """Consecutive non-const `nodes` as a plain segment (no rounding to learn)."""
    return _segment(graph, nodes, {})


def units(segments: list) -> list:
    return [s for s in segments if s.weights]


def _merge_plain(runs: list, by_layer: dict) -> list:
    """Consecutive runs without a layer to round become one plain segment."""
    merged: list = []
    for run in runs:
        if not run:
            continue
        plain = not any(id(n) in by_layer for n in run)
        if plain and merged and not any(id(n) in by_layer for n in merged[-1]):
            merged[-1] = merged[-1] + run
        else:
            merged.append(list(run))
    return merged


def _segment(graph: Graph, nodes: list, by_layer: dict) -> Segment:
    inside = {id(n) for n in nodes}
    weights = [by_layer[id(n)] for n in nodes if id(n) in by_layer]
    rounded = {id(w.value) for w in weights}
    inputs: dict = {}
    for n in nodes:
        for v in n.inputs:
            produced_inside = v is not None and v.producer is not None and id(v.producer) in inside
            constant = v is not None and v.producer is not None and v.producer.op == "const"
            if v is not None and id(v) not in rounded and not produced_inside and not constant:
                inputs.setdefault(id(v), v)
    graph_outputs = {id(v) for v in graph.outputs}
    outputs = [v for n in nodes for v in n.outputs
               if id(v) in graph_outputs or any(id(user) not in inside for user in v.users)]
    return Segment(tuple(nodes), tuple(weights), tuple(inputs.values()), tuple(outputs))
