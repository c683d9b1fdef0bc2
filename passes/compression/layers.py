"""The layers compression works on: conv1d / conv2d / linear nodes whose weight (operand 1)
is a float constant, grouped by weight so a weight shared by several layers is
compressed once."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qcompiler.ir.core import Graph, Node, Value
from qcompiler.ir.types import is_float

LAYER_OPS = ("conv1d", "conv2d", "linear")


@dataclass(frozen=True)
class Weight:
    value: Value
    layers: tuple  # the conv/linear nodes reading it, in graph order

    @property
    def const(self) -> Node:
        return self.value.producer

    @property
    def array(self) -> np.ndarray:
        return self.const.attrs["value"].array

    @property
    def name(self) -> str:
        """The first reader's result name: how reports and stats name the layer."""
        return self.layers[0].outputs[0].name


def is_compressible(node: Node) -> bool:
    if node.op not in LAYER_OPS or len(node.inputs) < 2:
        return False
    w = node.inputs[1]
    return w is not None and Graph.const_value(w) is not None and is_float(w.type)


def layer_weights(graph: Graph) -> list:
    """Every float weight of a conv1d/conv2d/linear, once, in graph order of its first reader."""
    found: dict = {}
    for node in graph.nodes:
        if is_compressible(node):
            found.setdefault(id(node.inputs[1]), (node.inputs[1], []))[1].append(node)
    return [Weight(value, tuple(nodes)) for value, nodes in found.values()]
