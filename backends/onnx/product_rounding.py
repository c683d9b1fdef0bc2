"""The QDQ form of an integer product's roundings (qcompiler/runtime/product_rounding.py),
so onnxruntime computes what the simulation and the integer kernels compute: the bias as
int32 at s_x·s_w behind a DequantizeLinear (the pattern onnxruntime's QDQ fusion turns
into QLinearConv / QGemm), and a table activation's input rounded to its 16-bit
intermediate by an int16 QuantizeLinear / DequantizeLinear pair (opset >= 21; below,
the activation reads the unrounded product, one output step apart in ~0.1% of values).
A binary (b1) result reads the product rounded to the int32 accumulator grid.
"""
from __future__ import annotations

import numpy as np
import onnx_ir as ir

from qcompiler.numerics.affine import quantize
from qcompiler.runtime.product_rounding import product_rounding

from .conversions import QUANTIZE_OUTPUTS, dequantize_linear, quantize_linear, storage_initializer


def bias_operand(ctx, node):
    """The ONNX value of `node`'s bias (input 2) as the integer product adds it."""
    b = node.inputs[2] if len(node.inputs) > 2 else None
    rounding = product_rounding(node) if b is not None else None
    array = ctx.const(b) if rounding is not None and rounding.bias is not None else None
    if array is None:
        return ctx.real(b)
    stored = storage_initializer(ctx, quantize(array, rounding.bias), rounding.bias, ctx.derived_name(b, "i32"))
    return dequantize_linear(ctx, stored, rounding.bias, f"{node.outputs[0].name}:bias")


def rounded_preactivation(ctx, node, y):
    """`y`, the product before `node`'s fused activation, as the lowering's intermediate holds it."""
    rounding = product_rounding(node)
    if rounding is not None and rounding.intermediate is not None and rounding.intermediate.storage == "i32":
        return _accumulator_grid(ctx, y, rounding.intermediate, f"{node.outputs[0].name}_acc")
    if rounding is None or rounding.intermediate is None or ctx.opset < QUANTIZE_OUTPUTS[ir.DataType.INT16]:
        return y
    name = f"{node.outputs[0].name}_pre"
    stored = quantize_linear(ctx, y, rounding.intermediate, f"{name}:q")
    return dequantize_linear(ctx, stored, rounding.intermediate, name)


def _accumulator_grid(ctx, y, t, name: str):
    """`y` rounded to the i32 accumulator grid `t` a binary result thresholds (Div, Round half to even,
    Mul in float32, as fake_quantize computes it: QuantizeLinear has no int32 output)."""
    scale = t.scale.array.astype(np.float32)
    shape = [1] * len(t.shape)
    if t.axis is not None:
        shape[t.axis] = -1
    step = ctx.b.constant(scale.reshape(shape))
    return ctx.b.op("Mul", [ctx.b.op("Round", [ctx.b.op("Div", [y, step])]), step], name=name)
