"""dynamic_qlinear as onnxruntime's quantize_dynamic writes it: DynamicQuantizeLinear of
the input, MatMulInteger with the int8 weight (transposed to [in, out]), the int32
result cast to float and scaled by s_x · s_w, then the bias. In every quantized form:
the op exists from quantize on."""
from __future__ import annotations

import numpy as np

from .emitters import CONVERSIONS

FLOAT = 1  # onnx.TensorProto.FLOAT


@CONVERSIONS.register("dynamic_qlinear")
def dynamic_qlinear(ctx, node):
    x, w = node.inputs[:2]
    bias = node.inputs[2] if len(node.inputs) > 2 else None
    xq, x_scale, x_zp = ctx.b.op("DynamicQuantizeLinear", [ctx.real(x)], outputs=3)
    weight = ctx.b.initializer(np.ascontiguousarray(ctx.graph.const_value(w).astype(np.int8).T),
                               ctx.derived_name(w, "transposed"))
    acc = ctx.b.op("MatMulInteger", [xq, weight, x_zp])
    scales = ctx.b.op("Mul", [x_scale, ctx.b.initializer(w.type.scale.array.astype(np.float32),
                                                          ctx.derived_name(w, "scales"))])
    y = ctx.b.op("Mul", [ctx.b.op("Cast", [acc], {"to": FLOAT}), scales])
    return [y if bias is None else ctx.b.op("Add", [y, ctx.real(bias)])]
