"""dynamic_qlinear as onnxruntime's quantize_dynamic writes it: DynamicQuantizeLinear of
the input, MatMulInteger with the int8 weight (transposed to [in, out]), the int32
result cast to float and scaled by s_x · s_w, then the bias. In every quantized form:
the op exists from quantize on. Per token (granularity=token) the parameters come from
ReduceMin / ReduceMax over the last axis in the reference's float32 operations; the u8
rows go into MatMulInteger without a zero point and zp_row · Σ_k w[o, k] is subtracted
from its int32 result, which is (q - zp_row) @ wᵀ exactly."""
from __future__ import annotations

import numpy as np

from qcompiler.ir.ops.quant_dynamic import U8_LEVELS

from .emitters import CONVERSIONS
from .float_tensor import axes_operand

FLOAT, UINT8, INT32 = 1, 2, 6  # onnx.TensorProto element types


@CONVERSIONS.register("dynamic_qlinear")
def dynamic_qlinear(ctx, node):
    x, w = node.inputs[:2]
    bias = node.inputs[2] if len(node.inputs) > 2 else None
    w_int = ctx.graph.const_value(w).astype(np.int8)
    weight = ctx.b.initializer(np.ascontiguousarray(w_int.T), ctx.derived_name(w, "transposed"))
    if node.attrs.get("granularity", "tensor") == "token":
        xq, x_scale, x_zp = _per_row_u8(ctx, ctx.real(x))
        sums = ctx.b.initializer(w_int.sum(axis=1, dtype=np.int32), ctx.derived_name(w, "row_sums"))
        acc = ctx.b.op("Sub", [ctx.b.op("MatMulInteger", [xq, weight]), ctx.b.op("Mul", [x_zp, sums])])
    else:
        xq, x_scale, x_zp = ctx.b.op("DynamicQuantizeLinear", [ctx.real(x)], outputs=3)
        acc = ctx.b.op("MatMulInteger", [xq, weight, x_zp])
    scales = ctx.b.op("Mul", [x_scale, ctx.b.initializer(w.type.scale.array.astype(np.float32),
                                                          ctx.derived_name(w, "scales"))])
    y = ctx.b.op("Mul", [ctx.b.op("Cast", [acc], {"to": FLOAT}), scales])
    return [y if bias is None else ctx.b.op("Add", [y, ctx.real(bias)])]


def _per_row_u8(ctx, x):
    """(u8 rows, scales [..., 1] f32, zero points [..., 1] int32) as dynamic_u8_row_params."""
    b = ctx.b
    zero = b.constant(np.float32(0.0))
    lo = b.op("Min", [axes_operand(ctx, "ReduceMin", [x], [-1], 18, {"keepdims": 1}), zero])
    hi = b.op("Max", [axes_operand(ctx, "ReduceMax", [x], [-1], 18, {"keepdims": 1}), zero])
    scale = b.op("Div", [b.op("Sub", [hi, lo]), b.constant(np.float32(U8_LEVELS))])
    scale = b.op("Where", [b.op("Equal", [scale, zero]), b.constant(np.float32(1.0)), scale])
    top = b.constant(np.float32(U8_LEVELS))
    zp = b.op("Clip", [b.op("Round", [b.op("Sub", [zero, b.op("Div", [lo, scale])])]), zero, top])
    q = b.op("Clip", [b.op("Add", [b.op("Round", [b.op("Div", [x, scale])]), zp]), zero, top])
    return b.op("Cast", [q], {"to": UINT8}), scale, b.op("Cast", [zp], {"to": INT32})
