"""Values that must share quantization parameters, found from the graph.

- Operands and result of `concat` share one scale and zero point: the union of their
  ranges. (`add` never ties: the integer add rescales each operand onto its result.)
- Pass-through ops (PASS_THROUGH_OPS) give their results exactly the data operand's
  parameters, so they run on the stored integers unchanged.
- `relu` joins its operand only when the operand's parameters cannot represent a
  negative value (asymmetric activations over a range with lo >= 0, so the zero point
  is the storage minimum): relu is then the identity on storage. Otherwise it keeps its
  own, tighter, parameters.

The mixed-precision allocator reuses `find_ties` to give tied values one bit width.
"""
from __future__ import annotations

from qcompiler.ir.core import Graph, Value
from qcompiler.ir.types import is_float

from .op_classes import PASS_THROUGH_OPS
from .ranges import union_range

EQUAL_SCALE_OPS = ("concat",)


class UnionFind:
    """Disjoint sets of Values (by identity) with path halving."""

    def __init__(self):
        self.parent: dict[int, int] = {}
        self.values: dict[int, Value] = {}

    def find(self, v: Value) -> int:
        k = id(v)
        self.values.setdefault(k, v)
        self.parent.setdefault(k, k)
        while self.parent[k] != k:
            self.parent[k] = self.parent[self.parent[k]]
            k = self.parent[k]
        return k

    def union(self, a: Value, b: Value) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra

    def members(self, v: Value) -> list:
        root = self.find(v)
        return [x for k, x in self.values.items() if self.find(x) == root]

    def groups(self) -> list:
        by_root: dict[int, list] = {}
        for v in self.values.values():
            by_root.setdefault(self.find(v), []).append(v)
        return list(by_root.values())


def tie_sets(graph: Graph, *, activation_symmetric: bool = False) -> UnionFind:
    """The union-find over every float value touched by a tie (see the module doc)."""
    sets = UnionFind()
    for node in graph.nodes:
        results = [v for v in node.outputs if is_float(v.type)]
        if node.op in PASS_THROUGH_OPS and node.inputs and node.inputs[0] is not None:
            for r in results:
                sets.union(node.inputs[0], r)
        elif node.op in EQUAL_SCALE_OPS and results:
            for v in [x for x in node.inputs if x is not None and is_float(x.type)] + results:
                sets.union(results[0], v)
    if not activation_symmetric:
        for node in graph.nodes:
            if node.op == "relu" and is_float(node.output.type):
                operand, result = node.inputs[0], node.output
                known = union_range(graph, sets.members(operand))  # unknown: its values may be negative
                joint = union_range(graph, sets.members(operand) + sets.members(result))
                if known is not None and joint[0] >= 0:
                    sets.union(operand, result)
    return sets


def find_ties(graph: Graph, *, activation_symmetric: bool = False) -> list:
    """Groups (lists of two or more Values, in graph order) that share parameters."""
    order = {id(v): i for i, v in enumerate(graph.values())}
    groups = tie_sets(graph, activation_symmetric=activation_symmetric).groups()
    groups = [sorted(g, key=lambda v: order[id(v)]) for g in groups if len(g) > 1]
    return sorted(groups, key=lambda g: order[id(g[0])])
