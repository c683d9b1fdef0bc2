"""Fold the attention scale into the query and key projections.

torch's scaled_dot_product_attention, as exporters write it, multiplies the queries and
the transposed keys by a scalar (d^-1/4 each) between their linear and q·kᵀ. Quantized,
each of those muls is an elementwise requantization of a [batch, heads, seq, head_dim]
tensor (onnxruntime's QLinearMul) that rounds the values once more. Scaling the linear's
weight and bias instead computes the same function (up to float rounding of w·c) with
one op and one rounding fewer: the transformer recipe does this before calibration.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from qcompiler.ir.core import Graph, Node, Value
from qcompiler.ir.types import is_float

from .smooth_quant import replace_const

LAYOUT_OPS = ("reshape", "transpose")  # move elements without changing them: a scale commutes


def _scalar(graph: Graph, v: Value) -> Optional[float]:
    array = graph.const_value(v)
    if array is None or array.size != 1 or not is_float(v.type):
        return None
    return float(array.reshape(()))


def _only_read_by(graph: Graph, v: Value, reader: Node) -> bool:
    """`v` feeds `reader` and otherwise only `shape` ops (which a scale does not change)."""
    return (not any(o is v for o in graph.outputs)
            and all(user is reader or user.op == "shape" for user in v.users))


def scaled_projection(graph: Graph, mul: Node) -> Optional[tuple]:
    """(linear, scale, scaled value) when `mul` scales a linear's result by a float scalar
    constant through reshapes / transposes read by nothing else, and its result feeds only
    matmuls of two activations (attention scores); else None."""
    if mul.op != "mul":
        return None
    for data, factor in ((0, 1), (1, 0)):
        scale = _scalar(graph, mul.inputs[factor])
        if scale is not None:
            break
    else:
        return None
    if mul.inputs[data].type.shape != mul.output.type.shape:
        return None
    users = mul.output.users
    if not users or any(u.op != "matmul" or any(graph.const_value(v) is not None for v in u.inputs[:2])
                        for u in users):
        return None
    reader, value = mul, mul.inputs[data]
    while value.producer is not None and value.producer.op in LAYOUT_OPS:
        if not _only_read_by(graph, value, reader):
            return None
        reader, value = value.producer, value.producer.inputs[0]
    linear = value.producer
    if linear is None or linear.op != "linear" or not _only_read_by(graph, value, reader):
        return None
    params = [linear.inputs[1], linear.inputs[2] if len(linear.inputs) > 2 else None]
    if any(p is not None and (graph.const_value(p) is None or not is_float(p.type)) for p in params):
        return None
    return linear, scale, mul.inputs[data]


def fold_attention_scales(graph: Graph) -> int:
    """Fold every such scale into its linear's weight and bias; returns how many."""
    folded = 0
    for mul in list(graph.nodes):
        found = scaled_projection(graph, mul)
        if found is None:
            continue
        linear, scale, data = found
        for i in (1, 2):
            if i < len(linear.inputs) and linear.inputs[i] is not None:
                replace_const(graph, linear, i, graph.const_value(linear.inputs[i]) * np.float64(scale))
        factor = mul.inputs[1] if data is mul.inputs[0] else mul.inputs[0]
        mul.output.replace_all_uses_with(data)
        graph.erase(mul)
        if not factor.uses and not any(o is factor for o in graph.outputs):
            graph.erase(factor.producer)
        folded += 1
    return folded
