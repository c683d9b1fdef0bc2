"""Quantized values in ONNX: storage element types, scale / zero-point initializers,
QuantizeLinear and DequantizeLinear for every granularity, and the `quantize` /
`dequantize` ops.

Storage is held in 8-bit containers (int8 / uint8; int16, int32 as themselves), which
every integer ONNX op accepts; the QDQ form stores 4-bit weights packed as INT4 / UINT4
from opset 21 on. A QuantizeLinear into a container wider than the storage is followed
by a Clip to the storage range, so e.g. i4 activations saturate at [-8, 7] as in the
reference. (Activations are not quantized to INT4 itself: ONNX Runtime 1.2x's
Clip/Relu + QuantizeLinear fusion rejects INT4 zero points at session creation.)
Group quantization is ONNX's blocked quantization (`block_size`, opset 21).
"""
from __future__ import annotations

import numpy as np
import onnx_ir as ir

from qcompiler.ir.types import QuantType

from .emitters import CONVERSIONS

CONTAINERS = {
    "u8": ir.DataType.UINT8, "u4": ir.DataType.UINT8, "u2": ir.DataType.UINT8,
    "i8": ir.DataType.INT8, "i4": ir.DataType.INT8, "i2": ir.DataType.INT8, "b1": ir.DataType.INT8,
    "i16": ir.DataType.INT16, "i32": ir.DataType.INT32,
}
PACKED = {"i4": ir.DataType.INT4, "u4": ir.DataType.UINT4}
# element types QuantizeLinear can produce, by the opset that introduced them
QUANTIZE_OUTPUTS = {ir.DataType.UINT8: 10, ir.DataType.INT8: 10, ir.DataType.INT16: 21}


def weight_dtype(ctx, t: QuantType) -> ir.DataType:
    """The element type of a stored constant."""
    if ctx.form == "qdq" and ctx.opset >= 21 and t.storage in PACKED:
        return PACKED[t.storage]
    return CONTAINERS[t.storage]


def held_as(stored: ir.Value, t: QuantType) -> ir.DataType:
    """The element type `stored` holds `t` in: packed for some constants, else the container."""
    return stored.dtype if stored.dtype in PACKED.values() else CONTAINERS[t.storage]


def storage_initializer(ctx, array: np.ndarray, t: QuantType, name: str) -> ir.Value:
    dtype = weight_dtype(ctx, t)
    container = CONTAINERS[t.storage].numpy()
    return ctx.b.initializer(np.asarray(array).astype(container), name, dtype, claimed=True)


def _param_shape(t: QuantType) -> tuple:
    """The scale / zero-point shape ONNX wants: scalar, [C], or the blocked full rank."""
    if t.axis is None:
        return ()
    if t.group is None:
        return (t.shape[t.axis],)
    shape = list(t.shape)
    shape[t.axis % len(shape)] //= t.group
    return tuple(shape)


def quant_params(ctx, t: QuantType, name: str = "", dtype: ir.DataType = None) -> tuple:
    """(scale, zero point, attributes) of `t` for Q / DQ and QLinear nodes on storage
    held as `dtype` (default: the container), named after `name` (default: the node
    being written); shared by equal types."""
    name = name or ctx.b.scope
    dtype = dtype or CONTAINERS[t.storage]
    key = ("qparams", t, dtype)
    cache = ctx.cache
    if key not in cache:
        attrs = {}
        if t.axis is not None:
            if ctx.opset < 13:
                raise ctx.error(f"%{name} is quantized per channel, which needs opset >= 13")
            attrs["axis"] = t.axis
        if t.group is not None:
            if ctx.opset < 21:
                raise ctx.error(f"%{name} is quantized in groups of {t.group}, which needs opset >= 21 (blocked "
                                "quantization)")
            attrs["block_size"] = t.group
        shape = _param_shape(t)
        scale = np.broadcast_to(t.scale.array.astype(np.float32), shape) if shape else t.scale.array.reshape(())
        zp = np.broadcast_to(t.zero_point.array, shape) if shape else t.zero_point.array.reshape(())
        cache[key] = (ctx.b.initializer(scale.astype(np.float32), f"{name}:scale"),
                      ctx.b.initializer(zp.astype(CONTAINERS[t.storage].numpy()), f"{name}:zero_point", dtype), attrs)
    return cache[key]


def dequantize_linear(ctx, stored: ir.Value, t: QuantType, name: str = "") -> ir.Value:
    """Real values (x - zero_point) · scale, in float32 like the reference, then cast to
    the expressed type."""
    scale, zp, attrs = quant_params(ctx, t, name, held_as(stored, t))
    if t.expressed == "f32":
        return ctx.b.op("DequantizeLinear", [stored, scale, zp], attrs, name=name)
    real = ctx.b.op("DequantizeLinear", [stored, scale, zp], attrs)
    return ctx.b.op("Cast", [real], {"to": ir.DataType.FLOAT16 if t.expressed == "f16" else ir.DataType.DOUBLE},
                    name=name)


def quantize_linear(ctx, real: ir.Value, t: QuantType, name: str = "") -> ir.Value:
    """Storage of `real` rounded to `t` (half to even, saturated to the storage range)."""
    if t.storage == "b1":
        return _binarize(ctx, real, t, name)
    dtype = CONTAINERS[t.storage]
    since = QUANTIZE_OUTPUTS.get(dtype)
    if since is None or ctx.opset < since:
        raise ctx.error(f"QuantizeLinear cannot produce {t.storage} storage ({dtype.name}) at this opset"
                        + (f"; it needs opset >= {since}" if since else ""))
    scale, zp, attrs = quant_params(ctx, t, name)
    if t.expressed != "f32":
        real = ctx.b.op("Cast", [real], {"to": ir.DataType.FLOAT})
    if (t.qmin, t.qmax) == _container_range(dtype):
        return ctx.b.op("QuantizeLinear", [real, scale, zp], attrs, name=name)
    if ctx.opset < 12:
        raise ctx.error(f"{t.storage} storage needs a Clip on {dtype.name}, which needs opset >= 12")
    stored = ctx.b.op("QuantizeLinear", [real, scale, zp], attrs)
    bounds = [ctx.b.constant(np.array(b, dtype.numpy())) for b in (t.qmin, t.qmax)]
    return ctx.b.op("Clip", [stored, *bounds], name=name)


def _binarize(ctx, real: ir.Value, t: QuantType, name: str) -> ir.Value:
    """b1 storage (int8 -1 / +1) of `real`: +1 from the midpoint of the two levels, -zp · scale, on
    (numerics/affine.py), as GreaterOrEqual + Where: QuantizeLinear would round to three levels."""
    if t.axis is not None or ctx.opset < 16:
        raise ctx.error(f"%{name or ctx.b.scope}: binary (b1) activations export per tensor from opset 16 "
                        "(GreaterOrEqual on floats)")
    midpoint = -float(t.zero_point.array.reshape(-1)[0]) * np.float32(t.scale.array.reshape(-1)[0])
    if t.expressed != "f32":
        real = ctx.b.op("Cast", [real], {"to": ir.DataType.FLOAT})
    reaches = ctx.b.op("GreaterOrEqual", [real, ctx.b.constant(np.array(midpoint, np.float32))])
    signs = [ctx.b.constant(np.array(s, np.int8)) for s in (1, -1)]
    return ctx.b.op("Where", [reaches, *signs], name=name)


def _container_range(dtype: ir.DataType) -> tuple:
    info = np.iinfo(dtype.numpy())
    return int(info.min), int(info.max)


@CONVERSIONS.register("quantize")
def quantize(ctx, node):
    return [quantize_linear(ctx, ctx.real(node.inputs[0]), node.output.type)]


@CONVERSIONS.register("dequantize")
def dequantize(ctx, node):
    (x,) = node.inputs
    return [dequantize_linear(ctx, ctx.storage(x), x.type)]
