"""conv1d / conv2d / linear / matmul with quantized input, weight and result ->
qconv1d / qconv2d / qlinear / qmatmul.

M[c] = s_in · s_w[c] / s_out per output channel (per weight block for group-wise
weights: group_requant.py); the bias becomes i32 with scale s_in · s_w[c] and zero
point 0; a fused relu / relu6 / clip folds into the clamp, and other fused activations
write a 16-bit intermediate that a qlut maps to the result.

A matmul whose reduction length K is symbolic (attention over a dynamic sequence)
cannot be proven at compile time; it records the longest K the accumulator provably
holds as `max_terms`, which the kernels check against the K they see at run time.
"""
from __future__ import annotations

import numpy as np

from qcompiler.ir.core import Graph, Node, Value
from qcompiler.ir.dense import Dense
from qcompiler.ir.types import QuantType
from qcompiler.numerics.accumulator_bias import accumulator_scale, integer_bias
from qcompiler.numerics.affine import dequantize
from qcompiler.numerics.fused_activation import TABLE_ACTIVATIONS, fused_function, preactivation_type
from qcompiler.rewrite import Op, Rule
from qcompiler.targets import Target

from .accumulator import MIN_RUNTIME_TERMS, check_dot_product, symbolic_length_bound
from .group_requant import group_requant, grouped_weight_ok
from .lut import lut_table
from .quant_params import activation_bounds, clamp_for, is_quant, per_tensor, requant_attrs, scale_of

INTEGER_OP = {"conv1d": "qconv1d", "conv2d": "qconv2d", "linear": "qlinear", "matmul": "qmatmul"}
GEOMETRY = ("stride", "pad", "dilation", "groups", "pad_mode")


def _weight_axis(op: str, w: QuantType) -> int:
    """The weight axis that indexes output channels (where per-channel scales may live)."""
    return w.rank - 1 if op == "matmul" else 0


def weight_ok(op: str, w) -> bool:
    # b1 weights (±1, zero point 0) are products like any other: kernels hold them as i8
    if is_quant(w) and w.group is not None:
        return grouped_weight_ok(op, w)
    if not is_quant(w) or w.bits > 16:
        return False
    return w.axis is None or (w.rank >= 2 and w.axis % w.rank == _weight_axis(op, w))


def _activation_ok(op: str, t) -> bool:
    """Per-tensor multi-level storage, or for conv / linear binary (b1) activations: the bit-serial
    kernels read them and a b1 result is a threshold on the accumulator (numerics/binary_threshold.py)."""
    return per_tensor(t) or (op != "matmul" and is_quant(t) and t.storage == "b1" and t.axis is None)


def symbolic_length_ok(node: Node, target: Target) -> bool:
    """A symbolic reduction length lowers when it is a matmul's (no bias) and the
    accumulator holds a useful number of its terms: `max_terms` bounds it at run time."""
    x, w = node.inputs[0], node.inputs[1]
    return (node.op == "matmul" and w.type.group is None
            and symbolic_length_bound(target, x, w) >= MIN_RUNTIME_TERMS)


def _lowerable(target: Target):
    def condition(m) -> bool:
        node = m.root
        x, w = node.inputs[0], node.inputs[1]
        bias = node.inputs[2] if len(node.inputs) > 2 else None
        out = node.output.type
        if not (_activation_ok(node.op, x.type) and weight_ok(node.op, w.type) and _activation_ok(node.op, out)):
            return False
        if bias is not None and Graph.const_value(bias) is None:
            return False
        if not isinstance(reduction_length(node, w.type), int) and not symbolic_length_ok(node, target):
            return False
        if activation_bounds(node) is None:  # a table activation has no binary result: it stays float
            return node.attrs.get("activation") in TABLE_ACTIVATIONS and out.storage != "b1" and \
                preactivation_type(node, out) is not None
        return True

    return condition


def _integer_bias(graph: Graph, bias: Value, accumulator_scale: np.ndarray, before: Node) -> Value:
    """The bias as i32 in accumulator units (scale s_in · s_w[c], zero point 0)."""
    array = graph.const_value(bias)
    real = dequantize(array, bias.type) if isinstance(bias.type, QuantType) else array.astype(np.float32)
    q, t = integer_bias(real, bias.type.expressed, accumulator_scale)
    origin = bias.producer.attrs.get("origin")
    return graph.constant(q, name=f"{bias.name}_i32", origin=origin, type=t, before=before)


def reduction_length(node: Node, w: QuantType):
    """Products summed per output: K for matmul, C_in/groups · kernel for conv, in for linear."""
    dims = node.inputs[0].type.shape[-1:] if node.op == "matmul" else w.shape[1:]
    if all(isinstance(d, int) for d in dims):
        return int(np.prod(dims, dtype=np.int64))
    return "·".join(str(d) for d in dims)


def _lower(target: Target):
    def replace(b, m):
        node, graph = m.root, m.graph
        x, w = node.inputs[0], node.inputs[1]
        bias = node.inputs[2] if len(node.inputs) > 2 else None
        out = node.output.type
        bounds = activation_bounds(node)
        mid = out if bounds is not None else preactivation_type(node, out)
        if w.type.group is not None:
            requant, acc_scale = group_requant(scale_of(x.type), w.type, _weight_axis(node.op, w.type), scale_of(mid))
        else:
            acc_scale = accumulator_scale(scale_of(x.type), w.type.scale.array)
            requant = requant_attrs(acc_scale.astype(np.float64) / scale_of(mid))
        operands = [x, w]
        if bias is not None:
            operands.append(_integer_bias(graph, bias, acc_scale, node))
        length = reduction_length(node, w.type)
        check_dot_product(node, target, x, w, length, graph.const_value(operands[2]) if bias is not None else None)
        attrs = {k: node.attrs[k] for k in GEOMETRY if k in node.attrs}
        if not isinstance(length, int):
            attrs["max_terms"] = symbolic_length_bound(target, x, w)
        attrs.update(requant, rounding=target.rounding,
                     clamp=clamp_for(mid, *(bounds or (None, None))))
        decisions = {k: v for k, v in node.attrs.items() if k.startswith("q.")}
        if mid is out:
            return b.op(INTEGER_OP[node.op], operands, {**attrs, **decisions}, output_types=[out])
        pre = b.op(INTEGER_OP[node.op], operands, attrs, output_types=[mid])
        graph.rename(pre, f"{node.output.name}_pre")
        table = lut_table(fused_function(node), mid, out)
        return b.op("qlut", [pre], {"table": Dense(table), **decisions}, output_types=[out])

    return replace


def product_rules(target: Target) -> list:
    return [Rule(INTEGER_OP[op], Op(op), _lower(target), condition=_lowerable(target)) for op in INTEGER_OP]
