"""Additive attention masks folded into masked_softmax (qcompiler/ir/ops/masked_softmax.py).

Exporters add the mask to the attention scores as a float tensor:
- `where(keep, 0, fill)` or `where(blocked, fill, 0)`: transformers' masks (fill =
  finfo(float32).min), torch's bool sdpa masks (-inf), the legacy and dynamo ONNX exports;
  the 0 may be zeros_like(cond) (nn.TransformerEncoder's padding mask, dynamo export);
- `(1 - m) * fill` with m a cast of the 0/1 attention mask (older transformers, fill =
  finfo.min or -1e4), in either operand order;
each possibly reshaped, unsqueezed, expanded or transposed before the add. A softmax of
scores plus such a mask becomes `masked_softmax(scores, keep) {fill}`, with the shape ops
replayed on the boolean `keep`: the same numbers, and the mask is no longer a float
value the quantizer would quantize (its range [fill, 0] gives every real score one
level). For `(1 - m) * fill`, keep is `m != 0`; m is a cast of a bool, or of an integer
attention mask, which holds 0 (padding) and 1 (token): another integer would not be a
mask at all. A `where(isnan(p), 0, p)` after a -inf masked_softmax (the legacy export
of torch's sdpa) becomes its `zero_empty_rows`, which drops the isnan.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from qcompiler.ir.core import Graph, Value
from qcompiler.rewrite import Const, Op, Rule, Var

from ..calibration.attrs import with_result_calibration

# what a 0/1 attention mask is stored as before it is cast to the scores' float type
MASK_DTYPES = ("bool", "i64", "i32", "i16", "i8", "u8")
# ops that move a mask's entries around without computing with them
SHAPE_OPS = ("reshape", "unsqueeze", "squeeze", "expand", "transpose", "flatten")


def _uniform(graph: Graph, v: Optional[Value]) -> Optional[float]:
    """The single value every entry of constant `v` holds, or None."""
    array = graph.const_value(v) if v is not None else None
    if array is None or array.size == 0 or array.dtype.kind != "f" or not np.all(array == array.flat[0]):
        return None
    return float(array.flat[0])


def _fill(graph: Graph, v: Value) -> Optional[float]:
    value = _uniform(graph, v)
    return value if value is not None and value < 0 else None


def _zero_beside(graph: Graph, v: Value, cond: Value) -> bool:
    """v is 0 everywhere and adds no dims to the where: a constant, or zeros_like(cond)
    (expand(0, shape(cond)) or constant_of_shape(shape(cond)): nn.MultiheadAttention's
    float padding mask as the dynamo and the legacy exporter write it)."""
    if _uniform(graph, v) == 0:
        return True
    node, shape = v.producer, None
    if node is not None and node.op == "expand" and _uniform(graph, node.inputs[0]) == 0:
        shape = node.inputs[1].producer
    elif node is not None and node.op == "constant_of_shape" and node.attrs.get("value", 0.0) == 0:
        shape = node.inputs[0].producer
    return shape is not None and shape.op == "shape" and _uncast(shape.inputs[0]) is _uncast(cond) and \
        shape.attrs.get("start", 0) == 0 and shape.attrs.get("end") is None


def _uncast(v: Value) -> Value:
    """v before casts to the dtype it already has (the legacy export's bool -> bool)."""
    while v.producer is not None and v.producer.op == "cast" and v.producer.inputs[0].type.dtype == v.type.dtype:
        v = v.producer.inputs[0]
    return v


def _where_mask(graph: Graph, node) -> Optional[tuple]:
    cond, a, b = node.inputs
    if cond.type.dtype != "bool":
        return None
    if _zero_beside(graph, a, cond) and _fill(graph, b) is not None:
        return cond, False, _fill(graph, b)
    if _zero_beside(graph, b, cond) and _fill(graph, a) is not None:
        return cond, True, _fill(graph, a)
    return None


def _one_minus_mask(graph: Graph, node) -> Optional[tuple]:
    """(1 - cast(m)) * fill: keep where m is nonzero."""
    for one_minus, k in (node.inputs, node.inputs[::-1]):
        fill, sub = _fill(graph, k), one_minus.producer
        if fill is None or sub is None or sub.op != "sub" or _uniform(graph, sub.inputs[0]) != 1.0:
            continue
        cast = sub.inputs[1].producer
        if cast is not None and cast.op == "cast" and cast.inputs[0].type.dtype in MASK_DTYPES:
            return cast.inputs[0], False, fill
    return None


def additive_mask(graph: Graph, v: Value) -> Optional[tuple]:
    """(source, negate, fill, shape ops) if `v` is an additive mask: keep is `source`
    (negated when `negate`, compared with 0 when not bool) with `shape ops` (outermost
    last) applied; None otherwise."""
    chain = []
    node = v.producer
    while node is not None and node.op in SHAPE_OPS:
        chain.append(node)
        node = node.inputs[0].producer
    if node is None or len(node.outputs) != 1:
        return None
    recognise = {"where": _where_mask, "mul": _one_minus_mask}.get(node.op)
    found = recognise(graph, node) if recognise is not None else None
    return None if found is None else (*found, chain[::-1])


def _keep(b, source: Value, negate: bool, chain: list) -> Value:
    keep = source
    if source.type.dtype != "bool":
        keep = b.op("cast", [source], {"to": "bool"})
    if negate:
        keep = b.op("not", [keep])
    for node in chain:
        keep = b.op(node.op, [keep, *node.inputs[1:]], dict(node.attrs))
    return keep


def _mask_operand(m) -> Optional[int]:
    """Which operand of the matched add is the mask (the other is the scores)."""
    return next((i for i in (1, 0) if additive_mask(m.graph, m["add"].inputs[i]) is not None), None)


def _masked_softmax(b, m):
    add = m["add"]
    i = _mask_operand(m)
    source, negate, fill, chain = additive_mask(m.graph, add.inputs[i])
    attrs = with_result_calibration({"axis": m.root.attrs.get("axis", -1), "fill": fill}, m.root)
    return b.op("masked_softmax", [add.inputs[1 - i], _keep(b, source, negate, chain)], attrs)


def _zero_empty_rows(b, m):
    softmax = m["softmax"]
    return b.op("masked_softmax", list(softmax.inputs),
                with_result_calibration({**softmax.attrs, "zero_empty_rows": True}, m.root))


# torch's sdpa as the legacy exporter writes it: softmax(scores + where(keep, 0, -inf))
# then where(isnan(p), 0, p), so a query that may attend to nothing gets zeros; with
# finite scores the NaNs are exactly those rows
probabilities = Op("masked_softmax", name="softmax", attrs={"fill": -math.inf, "zero_empty_rows": False})

RULES = [
    Rule("additive-mask-softmax", Op("softmax", Op("add", Var("a"), Var("b"), name="add", single_use=True)),
         _masked_softmax, condition=lambda m: _mask_operand(m) is not None),
    Rule("nan-rows-to-zero", Op("where", Op(("isnan", "onnx.IsNaN"), probabilities), Const(value=0.0), probabilities),
         _zero_empty_rows),
]
