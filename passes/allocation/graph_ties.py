"""Layers that must take one choice, so that every allocation is deployable:

- layers sharing a weight constant: it is quantized once, at one width;
- with activation choices, layers reading one activation, or activations the quantizer
  ties (concat operands, pass-through ops, see passes/quantize/ties.py): a value has
  one type, so its readers agree on its width. A tie fixes the whole choice label, so
  such layers share their weight width too (conservative, as HAWQ-V3's ties are);
- layer pairs the target runs as one kernel (`fusions`, the target's `[fusion] pairs`;
  fused_pairs.py): a depthwise conv and the pointwise conv reading it.
"""
from __future__ import annotations

from qcompiler.ir.core import Graph

from ..quantize.ties import find_ties
from .fused_pairs import depthwise_pointwise_pairs


class _Groups:
    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def join(self, i: int, j: int) -> None:
        self.parent[self.find(j)] = self.find(i)

    def groups(self) -> list:
        members: dict = {}
        for i in range(len(self.parent)):
            members.setdefault(self.find(i), []).append(i)
        return [tuple(m) for m in members.values() if len(m) > 1]


def layer_ties(graph: Graph, layers: list, activations: bool, activation_symmetric: bool,
               fusions: tuple = ()) -> list:
    """Tuples of layer indices (into `layers`) that must take the same choice label."""
    groups = _Groups(len(layers))
    first_reader: dict = {}
    for i, layer in enumerate(layers):
        for use in layer.weights:
            groups.join(first_reader.setdefault(id(use.weight), i), i)
    if activations:
        tied_to = {id(v): id(group[0]) for group in find_ties(graph, activation_symmetric=activation_symmetric)
                   for v in group}
        first_reader = {}
        for i, layer in enumerate(layers):
            data = layer.node.inputs[0]
            groups.join(first_reader.setdefault(tied_to.get(id(data), id(data)), i), i)
    if "depthwise-pointwise" in fusions:
        for i, j in depthwise_pointwise_pairs(layers):
            groups.join(i, j)
    return groups.groups()
