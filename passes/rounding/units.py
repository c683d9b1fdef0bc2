"""The units adaround reconstructs one at a time: a single layer (AdaRound), or a block
(BRECQ): a run of nodes closed by an add or a concat (a residual or branch merge) or
after `block_layers` layers, whichever comes first. Opaque nodes (run in onnxruntime,
without gradients) end a block and belong to none; a run without a layer to round is
no unit. Everything a unit reads from outside it is its input, computed by the
quantized graph; everything it produces that is read outside it is its output.
"""
from __future__ import annotations

from dataclasses import dataclass

from qcompiler.ir.core import Graph, Node, Value
from qcompiler.ir.registry import is_opaque

MERGES = ("add", "concat")


@dataclass(frozen=True)
class Unit:
    nodes: tuple     # non-const nodes, in graph order
    weights: tuple   # float_weights.Weight of the layers in it
    inputs: tuple    # values it reads that are produced outside it (no constants)
    outputs: tuple   # values it produces that are read outside it, or graph outputs

    @property
    def layers(self) -> list:
        return [w.layer for w in self.weights]


def partition(graph: Graph, weights: list, scope: str, block_layers: int) -> list:
    by_layer = {id(w.layer): w for w in weights}
    if scope == "layer":
        return [_unit(graph, [w.layer], by_layer) for w in weights]
    units, run = [], []
    for node in graph.nodes:
        if node.op == "const":
            continue
        if is_opaque(node.op):
            units.append(run)
            run = []
            continue
        run.append(node)
        if node.op in MERGES or sum(id(n) in by_layer for n in run) == block_layers:
            units.append(run)
            run = []
    units.append(run)
    return [_unit(graph, run, by_layer) for run in units if any(id(n) in by_layer for n in run)]


def _unit(graph: Graph, nodes: list, by_layer: dict) -> Unit:
    inside = {id(n) for n in nodes}
    weights = [by_layer[id(n)] for n in nodes if id(n) in by_layer]
    rounded = {id(w.value) for w in weights}
    inputs: dict = {}
    for n in nodes:
        for v in n.inputs:
            if v is not None and id(v) not in rounded and not _inside(v, inside) and not _constant(v):
                inputs.setdefault(id(v), v)
    graph_outputs = {id(v) for v in graph.outputs}
    outputs = [v for n in nodes for v in n.outputs
               if id(v) in graph_outputs or any(id(user) not in inside for user in v.users)]
    return Unit(tuple(nodes), tuple(weights), tuple(inputs.values()), tuple(outputs))


def _inside(v: Value, inside: set) -> bool:
    return v.producer is not None and id(v.producer) in inside


def _constant(v: Value) -> bool:
    return v.producer is not None and v.producer.op == "const"


def read_inside(v: Value, unit: Unit) -> bool:
    """Whether a node of `unit` reads `v`."""
    inside = {id(n) for n in unit.nodes}
    return any(id(user) in inside for user in v.users)


def label(unit: Unit) -> str:
    """The unit's first layer, by result name."""
    node: Node = unit.layers[0]
    return node.outputs[0].name
