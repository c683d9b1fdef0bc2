"""Minifloat values in ONNX: FLOAT8E4M3FN and FLOAT8E5M2 QuantizeLinear / DequantizeLinear
(opset >= 19).

A minifloat weight becomes a FLOAT8 initializer (its codes, bit for bit) and a
DequantizeLinear with its scale (per tensor, or per channel along `axis`); a minifloat
activation a QuantizeLinear (saturating, as the reference) and a DequantizeLinear, so
onnxruntime rounds exactly where the reference interpreter does. ONNX has no type for
the other formats (e3m2, e2m3, e2m1, an E4M3 with Inf, other biases): their weights are
written as the float values they round to, with a MinifloatExportWarning naming them
(the numbers are the reference's, the file is not smaller), and their activations are
refused, since no ONNX op rounds to them.
"""
from __future__ import annotations

import warnings
from typing import Optional

import numpy as np
import onnx_ir as ir

from qcompiler.ir.core import Value
from qcompiler.ir.types import MinifloatType
from qcompiler.numerics.minifloat import format_of, quantize

from .builder import onnx_dtype

FLOAT8_OPSET = 19
ZERO_POINT_OPTIONAL = 21  # QuantizeLinear's output_dtype
# (format, bias, encoding) -> ONNX element type
ONNX_FLOAT8 = {("e4m3", 7, "fn"): ir.DataType.FLOAT8E4M3FN, ("e5m2", 15, "ieee"): ir.DataType.FLOAT8E5M2}


class MinifloatExportWarning(UserWarning):
    """A minifloat weight was exported as the float values it stands for."""


def onnx_float8(t: MinifloatType) -> Optional[ir.DataType]:
    return ONNX_FLOAT8.get((t.format, t.bias, format_of(t).encoding))


def check_activations(ctx) -> None:
    """Refuse, before writing anything, a minifloat activation no ONNX op can round to."""
    for v in ctx.graph.values():
        if isinstance(v.type, MinifloatType) and ctx.graph.const_value(v) is None and onnx_float8(v.type) is None:
            raise ctx.error(f"activation %{v.name} is {v.type.format} ({format_of(v.type).encoding}, bias "
                            f"{v.type.bias}): ONNX rounds only to FLOAT8E4M3FN and FLOAT8E5M2; quantize activations "
                            f"to e4m3 or e5m2")


def _params(ctx, t: MinifloatType, dtype: ir.DataType, name: str) -> tuple:
    """(scale, zero point, attributes), shared by equal types. From opset 21 on there is no
    zero point (QuantizeLinear's `output_dtype` names the type): onnxruntime's ReluQuantFusion
    drops a Relu in front of any QuantizeLinear whose zero point is not an int8/uint8 one,
    as if a float8 zero point clamped like uint8's, and it skips one without a zero point."""
    key = ("float8", t, dtype)
    if key not in ctx.cache:
        scale = t.scale_array
        attrs = {} if t.axis is None else {"axis": t.axis}
        zero = None
        if ctx.opset < ZERO_POINT_OPTIONAL:
            zero = ctx.b.initializer(np.zeros(scale.shape, np.float32).astype(dtype.numpy()), f"{name}:zero_point")
        ctx.cache[key] = (ctx.b.initializer(scale, f"{name}:scale"), zero, attrs)
    return ctx.cache[key]


def _dequantize(ctx, stored: ir.Value, t: MinifloatType, dtype: ir.DataType, name: str) -> ir.Value:
    """codes · scale in float32, like the reference, then cast to the expressed type."""
    scale, zero, attrs = _params(ctx, t, dtype, name)
    operands = [stored, scale] + ([zero] if zero is not None else [])
    if t.expressed == "f32":
        return ctx.b.op("DequantizeLinear", operands, attrs, name=name)
    real = ctx.b.op("DequantizeLinear", operands, attrs)
    return ctx.b.op("Cast", [real], {"to": onnx_dtype(t.expressed)}, name=name)


def weight(ctx, v: Value, stored_name: str) -> ir.Value:
    """The real value of minifloat constant `v`: DequantizeLinear of its FLOAT8 codes, or
    its float values when ONNX has no element type for its format."""
    t, array = v.type, ctx.graph.const_value(v)
    dtype = onnx_float8(t) if ctx.opset >= FLOAT8_OPSET else None
    if dtype is None:
        why = f"opset {ctx.opset} < {FLOAT8_OPSET}" if onnx_float8(t) else "ONNX has no such element type"
        warnings.warn(f"weight %{v.name} is {t.format} ({format_of(t).encoding}): {why}, so it is exported as "
                      f"the float values it stands for (same numbers, {t.bits}-bit storage lost)",
                      MinifloatExportWarning, stacklevel=2)
        return ctx.b.initializer(array.astype(np.float32), stored_name, onnx_dtype(t.expressed), claimed=True)
    codes = quantize(array, t).astype(np.uint8).view(dtype.numpy())
    return _dequantize(ctx, ctx.b.initializer(codes, stored_name, dtype, claimed=True), t, dtype, v.name)


def round_trip(ctx, real: ir.Value, t: MinifloatType, name: str) -> ir.Value:
    """`real` rounded to minifloat type `t`: QuantizeLinear (saturating) then DequantizeLinear."""
    dtype = onnx_float8(t)
    if ctx.opset < FLOAT8_OPSET:
        raise ctx.error(f"%{name} is {t.format}: FLOAT8 QuantizeLinear needs opset >= {FLOAT8_OPSET}")
    scale, zero, attrs = _params(ctx, t, dtype, name)
    if t.expressed != "f32":
        real = ctx.b.op("Cast", [real], {"to": ir.DataType.FLOAT})
    if zero is None:
        stored = ctx.b.op("QuantizeLinear", [real, scale], {**attrs, "saturate": 1, "output_dtype": dtype})
    else:
        stored = ctx.b.op("QuantizeLinear", [real, scale, zero], {**attrs, "saturate": 1})
    return _dequantize(ctx, stored, t, dtype, name)
