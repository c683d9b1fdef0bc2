"""Fold the attention scale into the query and key projections.

torch's scaled_dot_product_attention, as exporters write it, multiplies the queries and
the transposed keys by a scalar (d^-1/4 each) between their linear and q·kᵀ; the torch
import scales q·kᵀ itself (d^-1/2), eager attention divides it by √d. Quantized, each
such mul is an elementwise requantization of a [batch, heads, seq, ...] tensor
(onnxruntime's QLinearMul) that rounds the values once more. Scaling the query or key
linear's weight and bias instead computes the same function (up to float rounding of
w·c) with one op and one rounding fewer: the transformer recipe does this before
calibration.
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


def _activations_product(graph: Graph, node: Optional[Node]) -> bool:
    return (node is not None and node.op == "matmul"
            and all(graph.const_value(v) is None for v in node.inputs[:2]))


def _projection(graph: Graph, value: Value, reader: Node) -> Optional[Node]:
    """The linear (constant float weight and bias) whose result reaches `reader` as `value`
    through reshapes / transposes that nothing else reads, else None."""
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
    return linear


def scaled_projection(graph: Graph, node: Node) -> Optional[tuple]:
    """(linear, scale, scaled value) when `node` multiplies (or divides) by a float scalar
    constant either a projection on its way into q·kᵀ (the exporters' sdpa: queries and
    keys scaled apiece) or q·kᵀ itself (the torch import's sdpa, eager attention's
    division by √d), the scale then going to the queries' projection; else None."""
    if node.op == "mul":
        for data, factor in ((0, 1), (1, 0)):
            scale = _scalar(graph, node.inputs[factor])
            if scale is not None:
                break
        else:
            return None
    elif node.op == "div":
        data, scale = 0, _scalar(graph, node.inputs[1])
        if not scale:
            return None
        scale = 1.0 / scale
    else:
        return None
    value = node.inputs[data]
    if scale is None or value.type.shape != node.output.type.shape:
        return None
    if _activations_product(graph, value.producer) and _only_read_by(graph, value, node):
        product = value.producer  # (q·kᵀ)·c = (q·c)·kᵀ
        linear = _projection(graph, product.inputs[0], product)
    elif node.output.users and all(_activations_product(graph, u) for u in node.output.users):
        linear = _projection(graph, value, node)
    else:
        return None
    return None if linear is None else (linear, scale, value)


def fold_attention_scales(graph: Graph) -> int:
    """Fold every such scale into its linear's weight and bias; returns how many."""
    folded = 0
    for node in list(graph.nodes):
        found = scaled_projection(graph, node)
        if found is None:
            continue
        linear, scale, data = found
        for i in (1, 2):
            if i < len(linear.inputs) and linear.inputs[i] is not None:
                replace_const(graph, linear, i, graph.const_value(linear.inputs[i]) * np.float64(scale))
        factor = node.inputs[1] if data is node.inputs[0] else node.inputs[0]
        node.output.replace_all_uses_with(data)
        graph.erase(node)
        if not factor.uses and not any(o is factor for o in graph.outputs) and factor.producer is not None:
            graph.erase(factor.producer)
        folded += 1
    return folded
