"""resolve-reshapes: give reshapes whose target is computed from shapes a constant target.

Exporters spell "keep the batch, flatten the rest" as
`reshape(x, concat(slice(shape(x), 0:1), [-1]))`. With a dynamic batch the shape chain
never folds, so the result type stays unknown and the lowering cannot bound the next
layer's reduction. Evaluating the chain symbolically (dims may be names like "N") shows
the target is `[N, -1]`; a dim equal to the input's dim at the same position becomes
ONNX's 0 ("copy"), so the target turns into the constant `[0, -1]`. Only named symbols
are equal: two unknown dims ("?") are two sizes, which may differ.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from qcompiler.ir.core import Graph, Value
from qcompiler.passmanager import PassResult, graph_pass

from .refine_types import refine_types


def symbolic_value(graph: Graph, v: Value, depth: int = 0) -> Optional[list]:
    """The entries of a 1-D integer value as ints or dim names, or None if unknown."""
    if depth > 32:
        return None
    const = graph.const_value(v)
    if const is not None:
        return [int(d) for d in np.asarray(const).reshape(-1)] if const.ndim <= 1 and const.dtype.kind in "iu" else None
    node = v.producer
    if node is None or len(node.outputs) != 1:
        return None
    args = [symbolic_value(graph, a, depth + 1) if a is not None else None for a in node.inputs]
    if node.op == "shape":
        dims = list(node.inputs[0].type.shape)
        return dims[node.attrs.get("start", 0):node.attrs.get("end")]
    if node.op in ("cast", "identity", "squeeze", "unsqueeze") and v.type.rank <= 1:
        return args[0]
    if node.op == "concat" and all(a is not None for a in args):
        return [d for a in args for d in a]
    if node.op == "slice" and args[0] is not None and node.attrs.get("axes") in (None, [0]):
        steps = node.attrs.get("steps") or [1]
        return args[0][slice(node.attrs["starts"][0], node.attrs["ends"][0], steps[0])]
    if node.op == "gather" and args[0] is not None and args[1] is not None and node.attrs.get("axis", 0) == 0:
        return [args[0][int(i)] for i in args[1]]
    return None


def _same_dim(a, b) -> bool:
    """Named symbols stand for one size each; an unknown dim ("?", or one derived from it
    like "?_out") is a different size every time it appears, so it equals nothing."""
    return a == b and not (isinstance(a, str) and "?" in a)


def _constant_target(x: Value, target: list) -> Optional[list]:
    out = []
    for i, d in enumerate(target):
        if isinstance(d, int):
            out.append(d)
        elif i < x.type.rank and _same_dim(x.type.shape[i], d):
            out.append(0)
        else:
            return None
    if sum(1 for d in out if d == -1) > 1:
        return None
    return out


def resolve_reshapes(graph: Graph) -> int:
    resolved = 0
    for node in graph.nodes:
        if node.op != "reshape" or node.attrs.get("allowzero") or graph.const_value(node.inputs[1]) is not None:
            continue
        target = symbolic_value(graph, node.inputs[1])
        fixed = _constant_target(node.inputs[0], target) if target is not None else None
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
