"""Rules: a pattern, an optional condition and a replacement built with a small builder.

    Rule("clip-to-relu6",
         Op("clip", Var("x"), attrs={"min": 0.0, "max": 6.0}),
         lambda b, m: b.op("relu6", [m["x"]]))

The replacement returns the value(s) that take the place of the root's results.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence, Union

import numpy as np

from ..ir.core import Graph, Node, Value
from ..ir.errors import QIRError
from .pattern import Op, State


class RewriteError(QIRError):
    """A rule set is malformed or a rewrite did not reach a fixed point."""


class Match:
    """What a pattern bound: `m["x"]` is a Value (Var/Const) or a Node (named Op)."""

    def __init__(self, root: Node, state: State):
        self.root = root
        self.bindings = state.bindings
        self.nodes = state.nodes

    def __getitem__(self, name: str):
        try:
            return self.bindings[name]
        except KeyError:
            raise KeyError(f"pattern binds no '{name}'; it binds {sorted(self.bindings)}") from None

    def array(self, name: str) -> np.ndarray:
        """The numpy value of a bound constant."""
        array = Graph.const_value(self[name])
        if array is None:
            raise KeyError(f"'{name}' is not bound to a constant")
        return array

    @property
    def graph(self) -> Graph:
        return self.root.graph


class Builder:
    """Creates replacement nodes just before the matched root, which keeps the graph in
    topological order: everything a pattern binds is defined before its root."""

    def __init__(self, graph: Graph, root: Node):
        self.graph = graph
        self.root = root
        self.created: list[Node] = []

    def node(self, op: str, inputs: Sequence[Optional[Value]], attrs: Optional[dict] = None, *,
             output_types=None) -> Node:
        node = self.graph.add(op, list(inputs), attrs, before=self.root, output_types=output_types)
        self.created.append(node)
        return node

    def op(self, op: str, inputs: Sequence[Optional[Value]], attrs: Optional[dict] = None, *,
           output_types=None) -> Value:
        """Add a single-result node and return its result."""
        return self.node(op, inputs, attrs, output_types=output_types).output

    def constant(self, array, *, origin: Optional[str] = None) -> Value:
        value = self.graph.constant(np.asarray(array), origin=origin)
        self.created.append(value.producer)
        return value


Replacement = Callable[[Builder, Match], Union[Value, Sequence[Value]]]


@dataclass(frozen=True)
class Rule:
    name: str
    pattern: Op
    replace: Replacement
    condition: Optional[Callable[[Match], bool]] = None

    def __post_init__(self):
        if not isinstance(self.pattern, Op):
            raise RewriteError(f"rule '{self.name}': the pattern root must be an Op pattern, got {self.pattern!r}")

    def match(self, node: Node) -> Optional[Match]:
        """The first binding of the pattern rooted at `node` that satisfies the condition."""
        if node.op not in self.pattern.ops or len(node.outputs) != 1:
            return None
        for state in self.pattern.match(node.output, State()):
            m = Match(node, state)
            if self.condition is None or self.condition(m):
                return m
        return None


class RuleSet:
    """Named rules applied together by the driver; rule names must be unique."""

    def __init__(self, rules: Sequence[Rule]):
        self.rules = tuple(rules)
        names = [r.name for r in self.rules]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise RewriteError(f"rule set has duplicate rule names: {', '.join(dup)}")
        self._by_op: dict[str, list[Rule]] = {}
        for r in self.rules:
            for o in r.pattern.ops:
                self._by_op.setdefault(o, []).append(r)

    def rules_for(self, op: str) -> list:
        return self._by_op.get(op, [])
