"""Graph, Node and Value: an SSA graph whose nodes are kept in topological order.

Mutation goes through a handful of methods (`insert_before`, `replace_all_uses_with`,
`erase`, ...) that keep use lists, producers and order consistent; passes never edit
the lists directly.
"""
from __future__ import annotations

import itertools
import re
from typing import Any, Iterable, Iterator, Optional, Sequence

import numpy as np

from .dense import Dense
from .errors import VerifyError
from .registry import infer_types
from .types import Type, tensor_type_of


class Value:
    """An SSA value: one producer (a node, or None for graph inputs), many uses."""

    __slots__ = ("name", "type", "producer", "index", "uses", "__weakref__")

    def __init__(self, name: str, type: Type, producer: Optional["Node"] = None, index: int = 0):
        self.name = name
        self.type = type
        self.producer = producer
        self.index = index
        self.uses: list[tuple[Node, int]] = []

    @property
    def users(self) -> list["Node"]:
        seen, out = set(), []
        for node, _ in self.uses:
            if id(node) not in seen:
                seen.add(id(node))
                out.append(node)
        return out

    @property
    def shape(self):
        return self.type.shape

    def replace_all_uses_with(self, new: "Value") -> int:
        """Point every use (and graph output) of this value at `new`; returns the count.
        A graph input nothing reads has no way to find its graph: its outputs stay."""
        if new is self:
            return 0
        # a graph input has no producer to name its graph; a node reading it does
        owner = self.producer if self.producer is not None else next((node for node, _ in self.uses), None)
        graph = owner.graph if owner is not None else None
        n = 0
        for node, i in list(self.uses):
            node.set_input(i, new)
            n += 1
        for i, out in enumerate(graph.outputs if graph is not None else []):
            if out is self:
                graph.outputs[i] = new
                n += 1
        return n

    def __repr__(self) -> str:
        return f"%{self.name}: {self.type}"


class Node:
    """An operation: `op` name, input values, output values, attributes and a meta cache.

    `attrs` hold decisions that are part of the program (printed, parsed, compared).
    `meta` is a cache any pass may drop; it is neither printed nor compared.
    """

    __slots__ = ("op", "_inputs", "outputs", "attrs", "meta", "graph", "__weakref__")

    def __init__(self, op: str, inputs: Sequence[Value], output_types: Sequence[Type],
                 attrs: Optional[dict] = None, output_names: Optional[Sequence[str]] = None):
        self.op = op
        self._inputs: list[Optional[Value]] = []
        self.attrs: dict[str, Any] = dict(attrs or {})
        self.meta: dict[str, Any] = {}
        self.graph: Optional[Graph] = None
        names = list(output_names) if output_names is not None else [""] * len(output_types)
        self.outputs = [Value(n, t, self, i) for i, (n, t) in enumerate(zip(names, output_types))]
        for v in inputs:
            self._append_input(v)

    # --- inputs -----------------------------------------------------------------
    @property
    def inputs(self) -> tuple:
        return tuple(self._inputs)

    def _append_input(self, v: Optional[Value]) -> None:
        i = len(self._inputs)
        self._inputs.append(v)
        if v is not None:
            v.uses.append((self, i))

    def set_input(self, i: int, v: Optional[Value]) -> None:
        old = self._inputs[i]
        if old is not None:
            old.uses.remove((self, i))
        self._inputs[i] = v
        if v is not None:
            v.uses.append((self, i))

    def set_inputs(self, values: Sequence[Optional[Value]]) -> None:
        self._drop_inputs()
        for v in values:
            self._append_input(v)

    def _drop_inputs(self) -> None:
        for i, v in enumerate(self._inputs):
            if v is not None:
                v.uses.remove((self, i))
        self._inputs = []

    # --- conveniences --------------------------------------------------------------
    @property
    def output(self) -> Value:
        if len(self.outputs) != 1:
            raise ValueError(f"node {self.label()} has {len(self.outputs)} outputs, not 1")
        return self.outputs[0]

    def label(self) -> str:
        outs = ", ".join("%" + v.name for v in self.outputs)
        return f"'{self.op}' ({outs})" if outs else f"'{self.op}'"

    def __repr__(self) -> str:
        return f"<Node {self.label()}>"


_NAME_RE = re.compile(r"^[A-Za-z0-9_.$-]+$")


class Graph:
    """A function: inputs, nodes in topological order, outputs.

    Constants (weights) are `const` nodes whose `value` attribute holds the array; use
    `Graph.constant()` to make one and `Graph.const_value()` to read one.
    """

    def __init__(self, name: str = "main"):
        self.name = name
        self.inputs: list[Value] = []
        self.outputs: list[Value] = []
        self._nodes: list[Node] = []
        self._names: set[str] = set()
        self._counter = itertools.count()
        self.opset_imports: dict[str, int] = {}  # for opaque onnx.* ops: domain -> version
        self.input_attrs: dict[str, dict] = {}  # graph input name -> attributes (e.g. q.range)
        # {"inputs": [...], "outputs": [...]}: the names in the imported model, by position,
        # where value names had to change (ONNX allows "gpu_0/data_0"); empty otherwise
        self.source_names: dict[str, list] = {}
        self.meta: dict[str, Any] = {}

    # --- names -------------------------------------------------------------------
    def unique_name(self, hint: str = "") -> str:
        hint = re.sub(r"[^A-Za-z0-9_.$-]", "_", hint or "")
        if hint and hint not in self._names:
            self._names.add(hint)
            return hint
        base = hint or "v"
        while True:
            name = f"{base}_{next(self._counter)}" if hint else f"{next(self._counter)}"
            if name not in self._names:
                self._names.add(name)
                return name

    def rename(self, v: Value, name: str) -> None:
        """Give `v` the name `name` (made unique if taken); rewrites use it so a
        replacement keeps the name of the value it replaced. A graph input's
        attributes (`input_attrs`, keyed by name) follow it to the new name."""
        old = v.name
        self._names.discard(old)
        v.name = name
        self._claim(v)
        if old in self.input_attrs and any(i is v for i in self.inputs):
            self.input_attrs[v.name] = self.input_attrs.pop(old)

    def _claim(self, v: Value) -> None:
        if not v.name or v.name in self._names:
            v.name = self.unique_name(v.name)
        else:
            if not _NAME_RE.fullmatch(v.name):
                v.name = self.unique_name(v.name)
            else:
                self._names.add(v.name)

    # --- inputs / outputs ------------------------------------------------------------
    def add_input(self, name: str, type: Type) -> Value:
        v = Value(name, type)
        self._claim(v)
        self.inputs.append(v)
        return v

    def set_outputs(self, values: Iterable[Value]) -> None:
        self.outputs = list(values)

    def source_input_names(self) -> list[str]:
        """The inputs' names in the model the graph was imported from."""
        names = self.source_names.get("inputs")
        return list(names) if names and len(names) == len(self.inputs) else [v.name for v in self.inputs]

    def source_output_names(self) -> list[str]:
        """The outputs' names in the model the graph was imported from."""
        names = self.source_names.get("outputs")
        return list(names) if names and len(names) == len(self.outputs) else [v.name for v in self.outputs]

    # --- nodes ---------------------------------------------------------------------
    @property
    def nodes(self) -> tuple:
        return tuple(self._nodes)

    def __iter__(self) -> Iterator[Node]:
        return iter(list(self._nodes))

    def __len__(self) -> int:
        return len(self._nodes)

    def _adopt(self, node: Node) -> Node:
        if node.graph is not None:
            raise VerifyError(f"node {node.label()} already belongs to a graph")
        node.graph = self
        for v in node.outputs:
            self._claim(v)
        return node

    def append(self, node: Node) -> Node:
        self._nodes.append(self._adopt(node))
        return node

    def insert_before(self, anchor: Node, node: Node) -> Node:
        self._nodes.insert(self._index(anchor), self._adopt(node))
        return node

    def insert_after(self, anchor: Node, node: Node) -> Node:
        self._nodes.insert(self._index(anchor) + 1, self._adopt(node))
        return node

    def _index(self, node: Node) -> int:
        for i, n in enumerate(self._nodes):
            if n is node:
                return i
        raise VerifyError(f"node {node.label()} is not in graph @{self.name}")

    def erase(self, node: Node) -> None:
        """Remove a node whose outputs are unused (not by nodes, not as graph outputs)."""
        for v in node.outputs:
            if v.uses or any(o is v for o in self.outputs):
                users = ", ".join(u.label() for u in v.users) or "graph output"
                raise VerifyError(f"cannot erase {node.label()}: %{v.name} is still used by {users}")
        node._drop_inputs()
        del self._nodes[self._index(node)]
        node.graph = None
        for v in node.outputs:
            self._names.discard(v.name)

    def add(self, op: str, inputs: Sequence[Value], attrs: Optional[dict] = None, *,
            name: str = "", before: Optional[Node] = None, output_types: Optional[Sequence[Type]] = None) -> Node:
        """Create a node, infer its output types from the op registry (unless given) and
        insert it (at the end, or before `before`)."""
        attrs = dict(attrs or {})
        if output_types is None:
            types = [v.type if v is not None else None for v in inputs]  # None: an absent optional operand
            output_types = infer_types(op, types, attrs, [self.const_value(v) for v in inputs])
        names = [name] + [f"{name}_{i}" if name else "" for i in range(1, len(output_types))]
        node = Node(op, inputs, output_types, attrs, names)
        return self.insert_before(before, node) if before is not None else self.append(node)

    def constant(self, array, *, name: str = "", origin: Optional[str] = None,
                 type: Optional[Type] = None, before: Optional[Node] = None) -> Value:
        """Add a `const` node holding `array`; placed at the start unless `before` is given."""
        array = np.asarray(array)
        attrs: dict[str, Any] = {"value": Dense(array)}
        if origin:
            attrs["origin"] = origin
        node = Node("const", [], [type or tensor_type_of(array)], attrs, [name])
        anchor = before if before is not None else (self._nodes[0] if self._nodes else None)
        if anchor is None:
            self.append(node)
        else:
            self.insert_before(anchor, node)
        return node.output

    @staticmethod
    def const_value(v: Optional[Value]) -> Optional[np.ndarray]:
        if v is not None and v.producer is not None and v.producer.op == "const":
            return v.producer.attrs["value"].array
        return None

    # --- order -------------------------------------------------------------------------
    def topo_sort(self) -> None:
        """Reorder nodes topologically, keeping the current order where it is valid."""
        position = {id(n): i for i, n in enumerate(self._nodes)}
        indegree = {}
        for n in self._nodes:
            # a producer in another graph orders nothing here (the verifier names that input)
            preds = {id(v.producer) for v in n.inputs if v is not None and v.producer is not None
                     and v.producer.graph is self}
            indegree[id(n)] = len(preds)
        import heapq
        ready = [(position[id(n)], id(n), n) for n in self._nodes if indegree[id(n)] == 0]
        heapq.heapify(ready)
        order = []
        while ready:
            _, _, n = heapq.heappop(ready)
            order.append(n)
            for user in {id(u): u for v in n.outputs for u in v.users}.values():
                if user.graph is not self:
                    continue
                indegree[id(user)] -= 1
                if indegree[id(user)] == 0:
                    heapq.heappush(ready, (position[id(user)], id(user), user))
        if len(order) != len(self._nodes):
            stuck = [n for n in self._nodes if indegree[id(n)] > 0]
            raise VerifyError(f"graph @{self.name} has a cycle through {stuck[0].label()}")
        self._nodes = order

    # --- queries ---------------------------------------------------------------------
    def values(self) -> Iterator[Value]:
        yield from self.inputs
        for n in self._nodes:
            yield from n.outputs

    def find(self, name: str) -> Value:
        for v in self.values():
            if v.name == name:
                return v
        raise KeyError(f"no value %{name} in graph @{self.name}")

    def op_counts(self) -> dict:
        counts: dict[str, int] = {}
        for n in self._nodes:
            counts[n.op] = counts.get(n.op, 0) + 1
        return dict(sorted(counts.items()))

    def __repr__(self) -> str:
        return f"<Graph @{self.name}: {len(self.inputs)} inputs, {len(self._nodes)} nodes, {len(self.outputs)} outputs>"
