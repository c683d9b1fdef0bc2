"""Why an op on quantized values stays float after `lower`: the first condition of its
integer rule that fails, or that it has no integer rule. The float boundaries write it
as the `q.float` attribute of the float op, and the report shows it per layer."""
from __future__ import annotations

from typing import Optional

from qcompiler.ir.core import Graph, Node
from qcompiler.ir.registry import is_opaque
from qcompiler.ir.types import QuantType, TensorType
from qcompiler.numerics.fused_activation import TABLE_ACTIVATIONS, preactivation_type

from ..quantize.keep_float import kept_float, kept_float_reason
from .accumulator import MIN_RUNTIME_TERMS
from .lut import LUT_BITS, LUT_OPS
from .products import INTEGER_OP, reduction_length, weight_ok
from .quant_params import activation_bounds, is_quant, max_centered, per_tensor

REQUANTIZED_OPS = ("add", "mul", "avg_pool2d", "global_avg_pool")


def describe(t) -> str:
    if isinstance(t, QuantType):
        return f"{t.storage} per {t.granularity}" + (f" along axis {t.axis}" if t.axis is not None else "")
    return f"float ({t.dtype})" if isinstance(t, TensorType) else type(t).__name__


def _not_per_tensor(values, max_bits: int = 16) -> Optional[str]:
    for role, v in values:
        if v is not None and is_quant(v.type) and v.type.storage == "b1" and v.type.axis is None:
            return (f"{role} %{v.name} is binary (b1): only conv and linear have binary kernels (the bit-serial "
                    f"products); give this layer q.act_bits of 2 or more")
        if v is not None and not per_tensor(v.type, max_bits):
            return (f"{role} %{v.name} is {describe(v.type)}; the integer kernel takes per-tensor quantized values "
                    f"of at most {max_bits} bits")
    return None


def _product_reason(node: Node) -> Optional[str]:
    x, w = node.inputs[0], node.inputs[1]
    bias = node.inputs[2] if len(node.inputs) > 2 else None
    binary_ok = node.op in ("conv1d", "conv2d", "linear")  # products._activation_ok
    reason = _not_per_tensor([(role, v) for role, v in (("input", x), ("result", node.output))
                              if not (binary_ok and is_quant(v.type) and v.type.storage == "b1")])
    if reason:
        return reason
    if not is_quant(w.type) or not weight_ok(node.op, w.type):
        return f"weight %{w.name} is {describe(w.type)}, which no integer product kernel takes"
    if bias is not None and Graph.const_value(bias) is None:
        return f"the bias %{bias.name} is computed at run time"
    act = node.attrs.get("activation")
    if activation_bounds(node) is None and (act not in TABLE_ACTIVATIONS or preactivation_type(node, node.output.type)
                                            is None):
        return f"the fused activation {act} has no clamp or 16-bit table form"
    length = reduction_length(node, w.type)
    if not isinstance(length, int):
        bound = max_centered(x.type) * max_centered(w.type)
        return (f"the reduction length {length} is symbolic: a run-time bound needs a matmul without group-wise "
                f"weights whose accumulator holds at least {MIN_RUNTIME_TERMS} terms of up to {bound}")
    return None


def float_reason(node: Node) -> str:
    op = node.op
    if kept_float(node):
        return kept_float_reason(node)
    if is_opaque(op):
        return "opaque ONNX op: runs through ONNX Runtime"
    if op in INTEGER_OP:
        reason = _product_reason(node)
    elif op in LUT_OPS:
        reason = _not_per_tensor([("input", node.inputs[0])], LUT_BITS) or _not_per_tensor([("result", node.output)])
    elif op in REQUANTIZED_OPS:
        reason = _not_per_tensor([(f"operand {i}", v) for i, v in enumerate(node.inputs)] + [("result", node.output)])
        if reason is None and op == "avg_pool2d":
            reason = "its windows count different numbers of elements (uncounted padding or ceil-mode overhang)"
        elif reason is None and op == "global_avg_pool":
            reason = ("its spatial size is symbolic and s_in / s_out >= 2^30 leaves the run-time division no "
                      "right shift")
    else:
        return f"no integer kernel for {op}"
    return reason or "its integer rule does not apply"
