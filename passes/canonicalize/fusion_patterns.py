"""Pattern pieces the op-forming canonicalizations share (layer_norm, gelu).

Exporters spell one computation several ways (Pow(d, 2) or Mul(d, d), a division or a
multiplication by a reciprocal), so the patterns need alternatives; and a decomposed op
reuses intermediates inside itself (LayerNorm's centred value feeds both the variance
and the division), so `single_use` is too strict and the check is "nothing outside the
match reads an intermediate" instead.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from qcompiler.rewrite import Match, Op, Pattern


class AnyOf(Pattern):
    """Matches when one of `alternatives` does; backtracks into the next one."""

    def __init__(self, *alternatives: Pattern):
        self.alternatives = alternatives

    def __repr__(self) -> str:
        return "AnyOf(" + ", ".join(map(repr, self.alternatives)) + ")"

    def match(self, value, state):
        for alternative in self.alternatives:
            yield from alternative.match(value, state)


def intermediates_read_only_inside(m: Match) -> bool:
    """Every matched node but the root is read only by matched nodes (and is no graph
    output), so replacing the root leaves none of them alive."""
    inside = set(map(id, m.nodes))
    outputs = set(map(id, m.graph.outputs))
    for node in m.nodes:
        if node is m.root:
            continue
        for v in node.outputs:
            if id(v) in outputs or any(id(user) not in inside for user, _ in v.uses):
                return False
    return True


def scalar(array: np.ndarray) -> bool:
    """One finite element (any shape of ones): a constant that broadcasts everywhere."""
    return array.size == 1 and array.dtype.kind == "f" and bool(np.isfinite(array).all())


def products(a: Pattern, b: Pattern, c: Pattern) -> Sequence[Op]:
    """Root patterns for the three ways a product of three factors associates:
    (a*b)*c, (a*c)*b and a*(b*c); commutative matching covers the operand orders."""
    return (Op("mul", Op("mul", a, b), c), Op("mul", Op("mul", a, c), b), Op("mul", a, Op("mul", b, c)))
