"""resolve-reshapes: give reshapes whose target is computed from shapes a constant target.

Exporters spell "keep the batch, flatten the rest" as
`reshape(x, concat(slice(shape(x), 0:1), [-1]))`. With a dynamic batch the shape chain
never folds, so the result type stays unknown and the lowering cannot bound the next
layer's reduction. Evaluating the chain symbolically shows the target is `[N, -1]`;
an entry that is the input's own dim at the same position becomes ONNX's 0 ("copy"),
so the target turns into the constant `[0, -1]`. "The same dim" means read from the
input's shape at that position, or the same graph-input symbol ("N"); two unknown dims
("?") are two sizes, which may differ, and so are two dims inference named "W_out".
One entry left unresolved becomes -1, which reshape computes from the element count:
the value the entry had ([B, 12, 32, 64] of a [B·12, 32, 64] input, B read from
another tensor, is [-1, 12, 32, 64]).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

import numpy as np

from qcompiler.ir.core import Graph, Value
from qcompiler.passmanager import PassResult, graph_pass

from .refine_types import refine_types


@dataclass(frozen=True)
class DimOf:
    """A shape entry read at run time: dim `axis` (named `dim` in its type) of `value`."""

    value: Value
    axis: int
    dim: Union[int, str]

    def __eq__(self, other) -> bool:  # a Value compares by identity, not content
        return isinstance(other, DimOf) and self.value is other.value and self.axis == other.axis

    def __hash__(self) -> int:
        return hash((id(self.value), self.axis))


def symbolic_value(graph: Graph, v: Value, depth: int = 0) -> Optional[list]:
    """The entries of a 1-D integer value as ints or `DimOf`s, or None if unknown.
    Only the operands an op's rule reads are evaluated: recursing into every operand
    walked the whole data graph behind each `shape` (606k calls on a 6-layer BERT)."""
    if depth > 32:
        return None
    const = graph.const_value(v)
    if const is not None:
        return [int(d) for d in np.asarray(const).reshape(-1)] if const.ndim <= 1 and const.dtype.kind in "iu" else None
    node = v.producer
    if node is None or len(node.outputs) != 1:
        return None

    def operand(i: int) -> Optional[list]:
        a = node.inputs[i] if i < len(node.inputs) else None
        return symbolic_value(graph, a, depth + 1) if a is not None else None

    if node.op == "shape":
        x = node.inputs[0]
        dims = [d if isinstance(d, int) else DimOf(x, i, d) for i, d in enumerate(x.type.shape)]
        return dims[node.attrs.get("start", 0):node.attrs.get("end")]
    if node.op in ("cast", "identity", "squeeze", "unsqueeze") and v.type.rank <= 1:
        return operand(0)
    if node.op == "concat":
        parts = [operand(i) for i in range(len(node.inputs))]
        return [d for a in parts for d in a] if all(a is not None for a in parts) else None
    if node.op == "slice" and node.attrs.get("axes") in (None, [0]):
        entries = operand(0)
        steps = node.attrs.get("steps") or [1]
        return None if entries is None else entries[slice(node.attrs["starts"][0], node.attrs["ends"][0], steps[0])]
    if node.op == "gather" and node.attrs.get("axis", 0) == 0:
        entries, indices = operand(0), operand(1)
        if entries is None or indices is None:
            return None
        return [entries[int(i)] for i in indices]
    return None


def _copies(x: Value, i: int, d: DimOf, symbols: set) -> bool:
    """Entry i of a target for x is x's dim i: read from it, or the same graph-input
    symbol. Names inference derives ("W_out" after a strided window) are not symbols:
    two windows of different geometry give the same name to different sizes."""
    if d.value is x and d.axis == i:
        return True
    mine = x.type.shape[i] if i < x.type.rank else None
    return d.dim in symbols and mine == d.dim


def _input_symbols(graph: Graph) -> set:
    """The named symbolic dims of the graph inputs: one size each wherever they appear."""
    return {d for v in graph.inputs for d in v.type.shape if isinstance(d, str) and "?" not in d}


def _constant_target(x: Value, target: list, symbols: set) -> Optional[list]:
    out = [d if isinstance(d, int) else 0 if _copies(x, i, d, symbols) else None for i, d in enumerate(target)]
    open_entries = [i for i, d in enumerate(out) if d is None]
    if len(open_entries) == 1 and -1 not in out:
        out[open_entries[0]] = -1
    if None in out or out.count(-1) > 1:
        return None
    return out


def resolve_reshapes(graph: Graph) -> int:
    resolved, symbols = 0, _input_symbols(graph)
    for node in graph.nodes:
        if node.op != "reshape" or node.attrs.get("allowzero") or graph.const_value(node.inputs[1]) is not None:
            continue
        target = symbolic_value(graph, node.inputs[1])
        fixed = _constant_target(node.inputs[0], target, symbols) if target is not None else None
        if fixed is None:
            continue
        node.set_input(1, graph.constant(np.array(fixed, np.int64), before=node))
        resolved += 1
    if resolved:
        refine_types(graph)
    return resolved


@graph_pass("resolve-reshapes")
def resolve_reshapes_pass(graph: Graph, ctx) -> PassResult:
    n = resolve_reshapes(graph)
    return PassResult(n > 0, {"resolved": n} if n else {})
