"""The ONNX op mapping table: one converter per ONNX op type, registered with
`@converter("Conv", ...)` in the onnx_ops_* family modules.

A converter receives an `OnnxNode` (the node's operands as IR values, constant operands
as numpy arrays, attributes as Python values, its opset) and returns the IR values of
the ONNX outputs. When the catalog cannot express a case (a bound that is not constant,
an unsupported mode, ...) it raises `Unsupported` and the importer keeps the node as an
opaque `onnx.*` node instead; anything it already emitted is rolled back.
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np

from ..ir.core import Graph, Node, Value
from ..ir.dense import Dense
from ..ir.errors import FrontendError, QIRError
from ..ir.registry import get_op, infer_types
from ..ir.types import tensor_type_of
from .onnx_fold import constant_value

CONVERTERS: dict[str, Callable[["OnnxNode"], Sequence[Value]]] = {}


class Unsupported(Exception):
    """The catalog cannot express this node; it stays opaque. The message says why."""


def converter(*op_types: str):
    def deco(fn):
        for t in op_types:
            CONVERTERS[t] = fn
        return fn

    return deco


class OnnxNode:
    """One default-domain ONNX node as its converter sees it, plus the emit helpers."""

    def __init__(self, graph: Graph, op_type: str, name: str, opset: int, inputs: list,
                 attrs: dict, output_names: list, outputs_used: list):
        self.graph = graph
        self.op_type = op_type
        self.name = name
        self.opset = opset
        self.inputs = inputs
        self.attrs = attrs
        self.output_names = output_names
        self.outputs_used = outputs_used
        self.emitted: list[Node] = []

    @property
    def where(self) -> str:
        return f"node '{self.name}' ({self.op_type})"

    # --- operands -------------------------------------------------------------------
    def input(self, i: int) -> Optional[Value]:
        return self.inputs[i] if i < len(self.inputs) else None

    def const(self, i: int) -> Optional[np.ndarray]:
        """Input i's value when it is a constant or integer arithmetic on constants."""
        return constant_value(self.graph, self.input(i))

    def require_const(self, i: int, what: str) -> np.ndarray:
        """Input i as a numpy array; a computed operand makes the node opaque."""
        v = self.const(i)
        if v is None:
            raise Unsupported(f"{what} (input {i}) is not a constant")
        return v

    def const_ints(self, i: int, what: str) -> Optional[list]:
        """An optional constant integer-list operand (None when absent or empty)."""
        if self.input(i) is None:
            return None
        v = self.require_const(i, what)
        return [int(x) for x in v.reshape(-1)] if v.size else None

    def rank(self, i: int = 0) -> int:
        return self.input(i).type.rank

    def static_shape(self, i: int, what: str) -> tuple:
        shape = self.input(i).type.shape
        if not all(isinstance(d, int) for d in shape):
            raise Unsupported(f"{what} needs a static shape, input {i} has {list(shape)}")
        return shape

    def attr(self, name: str, default=None):
        return self.attrs.get(name, default)

    def only_first_output(self) -> None:
        if any(self.outputs_used[1:]):
            raise Unsupported("an optional extra output is used")

    # --- emitting ---------------------------------------------------------------------
    def emit(self, op: str, inputs: Sequence[Optional[Value]], attrs: Optional[dict] = None, *,
             helper: bool = False) -> Node:
        """Add a catalog op named after the ONNX outputs (`helper` nodes, which feed the
        final one, get derived names). Attributes the catalog rejects make the node opaque."""
        attrs = {k: v for k, v in (attrs or {}).items() if v is not None}
        inputs = list(inputs)
        while inputs and inputs[-1] is None:
            inputs.pop()
        try:
            get_op(op).check_attrs(attrs, self.where)
        except QIRError as e:
            raise Unsupported(str(e)) from None
        try:
            types = infer_types(op, [v.type if v is not None else None for v in inputs], attrs,
                                [self.graph.const_value(v) for v in inputs])
        except QIRError as e:
            raise FrontendError(f"{self.where}: {e}") from None
        except (ValueError, TypeError, IndexError) as e:
            raise FrontendError(f"{self.where}: type inference of '{op}' failed: {e}") from None
        return self._append(Node(op, inputs, types, attrs, self._names(len(types), helper, op)))

    def add(self, op: str, inputs: Sequence[Optional[Value]], attrs: Optional[dict] = None, *,
            helper: bool = False) -> Value:
        return self.emit(op, inputs, attrs, helper=helper).output

    def constant(self, array, *, origin: Optional[str] = None, helper: bool = True) -> Value:
        array = np.asarray(array)
        attrs = {"value": Dense(array)}
        if origin:
            attrs["origin"] = origin
        return self._append(Node("const", [], [tensor_type_of(array)], attrs,
                                 self._names(1, helper, "const"))).output

    def _append(self, node: Node) -> Node:
        self.graph.append(node)
        self.emitted.append(node)
        return node

    def _names(self, n: int, helper: bool, op: str) -> list:
        base = next((o for o in self.output_names if o), self.name)
        if helper:
            return [f"{base}_{op}"] * n
        return [(self.output_names[i] if i < len(self.output_names) and self.output_names[i] else base)
                for i in range(n)]

    def rollback(self) -> None:
        for node in reversed(self.emitted):
            self.graph.erase(node)
        self.emitted.clear()


def normalize_axis(axis: int, rank: int, where: str) -> int:
    if not -rank <= axis < max(rank, 1):
        raise FrontendError(f"{where}: axis {axis} is out of range for rank {rank}")
    return axis % rank if rank else 0
