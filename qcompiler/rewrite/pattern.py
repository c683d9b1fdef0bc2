"""Patterns: trees of op patterns over variables and constants, matched against values.

    hardswish = Op("div", Op("mul", Var("x"), Op("relu6", Op("add", Var("x"), Const(value=3.0)))),
                   Const(value=6.0))

A variable bound twice must see the same value both times (`x` above). Matching is a
generator over bindings, so commutative operands and nested alternatives backtrack
properly instead of committing to the first order that looked right.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterator, Optional, Sequence, Union

import numpy as np

from ..ir.core import Graph, Node, Value
from ..ir.registry import get_op, is_opaque

# ops whose two operands may be matched in either order
COMMUTATIVE = frozenset({"add", "mul", "maximum", "minimum", "equal"})


@dataclass(frozen=True)
class State:
    """Bindings made so far (name -> Value for Var/Const, name -> Node for named Op)
    and the nodes matched so far, root first."""

    bindings: dict = field(default_factory=dict)
    nodes: tuple = ()

    def bind(self, name: Optional[str], thing) -> Optional["State"]:
        if name is None:
            return self
        if name in self.bindings:
            return self if self.bindings[name] is thing else None
        return State({**self.bindings, name: thing}, self.nodes)


class Pattern:
    def match(self, value: Optional[Value], state: State) -> Iterator[State]:
        raise NotImplementedError


@dataclass(frozen=True)
class Var(Pattern):
    """Any value; `optional=True` also matches an absent optional operand (binds None)."""

    name: str
    optional: bool = False

    def match(self, value, state):
        if value is None and not self.optional:
            return
        bound = state.bind(self.name, value)
        if bound is not None:
            yield bound


def _is_close_to(target: float) -> Callable[[np.ndarray], bool]:
    def check(array: np.ndarray) -> bool:
        return array.size > 0 and array.dtype.kind in "fiu" and bool(np.allclose(array, target, rtol=1e-6, atol=1e-7))

    return check


@dataclass(frozen=True)
class Const(Pattern):
    """A `const` value. `value=3.0` requires every element to be (close to) 3.0;
    `where` is any predicate on the numpy array. Binds the Value under `name`."""

    name: Optional[str] = None
    where: Optional[Callable[[np.ndarray], bool]] = None
    value: Optional[float] = None

    def match(self, value, state):
        array = Graph.const_value(value)
        if array is None:
            return
        if self.value is not None and not _is_close_to(self.value)(array):
            return
        if self.where is not None and not self.where(array):
            return
        bound = state.bind(self.name, value)
        if bound is not None:
            yield bound


class Op(Pattern):
    """A node producing the matched value.

    `op` is a name or a tuple of alternatives. `inputs` are patterns for the operands
    (absent trailing optional operands count as None); with no inputs given, operands
    are not looked at. `attrs` maps attribute names to required values or predicates
    (schema defaults are filled in first). `single_use` requires that nothing outside
    the match reads this node's result, for fusions that would otherwise duplicate it.
    """

    def __init__(self, op: Union[str, Sequence[str]], *inputs: Pattern, attrs: Optional[dict] = None,
                 name: Optional[str] = None, single_use: bool = False, commutative: Optional[bool] = None):
        self.ops = (op,) if isinstance(op, str) else tuple(op)
        self.inputs = tuple(inputs)
        self.attrs = dict(attrs or {})
        self.name = name
        self.single_use = single_use
        self.commutative = all(o in COMMUTATIVE for o in self.ops) if commutative is None else commutative

    def __repr__(self) -> str:
        ops = "|".join(self.ops)
        return f"Op({ops}{', ' + self.name if self.name else ''})"

    def match(self, value, state):
        node = value.producer if value is not None else None
        if node is None or node.op not in self.ops or not self._attrs_ok(node):
            return
        if self.single_use and not _only_read_once(value):
            return
        bound = state.bind(self.name, node)
        if bound is None:
            return
        bound = State(bound.bindings, bound.nodes + ((node,) if node not in bound.nodes else ()))
        if not self.inputs:
            yield bound
            return
        operands = list(node.inputs)
        if len(operands) > len(self.inputs):
            return
        operands += [None] * (len(self.inputs) - len(operands))
        orders = [operands]
        if self.commutative and len(operands) == 2:
            orders.append(operands[::-1])
        for order in orders:
            yield from _match_all(self.inputs, order, bound)

    def _attrs_ok(self, node: Node) -> bool:
        if not self.attrs:
            return True
        attrs = node.attrs if is_opaque(node.op) else get_op(node.op).with_defaults(node.attrs)
        for key, want in self.attrs.items():
            have = attrs.get(key)
            ok = want(have) if callable(want) else _equal(have, want)
            if not ok:
                return False
        return True


def _equal(have, want) -> bool:
    if isinstance(want, (list, tuple)):
        return isinstance(have, (list, tuple)) and list(have) == list(want)
    return have == want


def _only_read_once(value: Value) -> bool:
    graph = value.producer.graph
    return len(value.uses) == 1 and not any(o is value for o in graph.outputs)


def _match_all(patterns: Sequence[Pattern], values: Sequence, state: State) -> Iterator[State]:
    if not patterns:
        yield state
        return
    for s in patterns[0].match(values[0], state):
        yield from _match_all(patterns[1:], values[1:], s)
