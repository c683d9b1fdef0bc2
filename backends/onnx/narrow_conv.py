"""A quantized convolution with a very short reduction (fewer than 4 input channels and
at most 16 products per output, e.g. a 3×3 stem over grey images) runs in float in
ONNX Runtime, in the qdq and qoperator forms alike.

ONNX Runtime's fast u8×s8 convolution (MLAS ConvSym) packs input channels in fours;
with fewer it takes im2col and a GEMM, which a reduction of 9 leaves mostly idle. On
the digits ResNet's stem (1 -> 16 channels, 3×3, batch 64 at 28×28) its QLinearConv
took 1.18 ms against 0.17 ms for its fp32 NCHWc Conv, ~0.6 ms with the reorder,
QuantizeLinear and transposes around it (bench/RESULTS.md, "Exported int8 ... issue 14
item 1"). Longer reductions gain nothing: a grey 5×5 stem (25) took as long either way,
an RGB 7×7 one (147) twice as long in float.

The Conv reads the input dequantized by Cast, Sub, Mul, and float weights and bias
(dequantized here in float32, as DequantizeLinear would): a DequantizeLinear in front
would let onnxruntime's QDQ fusion turn DQ -> Conv -> Q back into that QLinearConv (it
quantizes float weights itself). Integer inputs to the product are exact in float32, so
the qdq form computes what its unfused Q/DQ spelling computes; the qoperator form
rounds the float sum once, as QLinearConv's float requantization does.
"""
from __future__ import annotations

import numpy as np
import onnx_ir as ir

from qcompiler.ir.types import QuantType
from qcompiler.numerics.affine import dequantize, quantize
from qcompiler.runtime.product_rounding import product_rounding

FEWEST_PACKED_CHANNELS = 4  # input channels per group that ORT's u8×s8 conv kernel packs
LONGEST_FLOAT_REDUCTION = 16  # products per output up to which the float conv is faster


def runs_in_float(ctx, node) -> bool:
    """Whether `node` (conv1d/2d or qconv1d/2d) reads a per-tensor quantized input with
    fewer than FEWEST_PACKED_CHANNELS channels through constant, ungrouped weights of at
    most LONGEST_FLOAT_REDUCTION products per output."""
    x, w = node.inputs[:2]
    return (node.attrs.get("groups", 1) == 1 and w.type.shape[1] < FEWEST_PACKED_CHANNELS
            and int(np.prod(w.type.shape[1:])) <= LONGEST_FLOAT_REDUCTION
            and isinstance(x.type, QuantType) and x.type.axis is None and x.type.expressed == "f32"
            and isinstance(w.type, QuantType) and w.type.group is None and ctx.graph.const_value(w) is not None)


def float_operands(ctx, node) -> tuple:
    """(input, weight, bias) of a float Conv computing `node`'s product (see runs_in_float)."""
    x, w = node.inputs[:2]
    weight = ctx.b.initializer(dequantize(ctx.graph.const_value(w), w.type), ctx.derived_name(w, "f32"))
    return _spelled_dequantize(ctx, x), weight, _float_bias(ctx, node)


def _spelled_dequantize(ctx, x) -> ir.Value:
    """x's real value as (Cast(x) - zero point) · scale, which no QDQ fusion matches."""
    key = ("spelled dequantize", id(x))
    if key not in ctx.cache:
        stored = ctx.b.op("Cast", [ctx.storage(x)], {"to": ir.DataType.FLOAT})
        zp = ctx.b.constant(x.type.zero_point.array.reshape(()).astype(np.float32))
        scale = ctx.b.constant(x.type.scale.array.reshape(()).astype(np.float32))
        ctx.cache[key] = ctx.b.op("Mul", [ctx.b.op("Sub", [stored, zp]), scale])
    return ctx.cache[key]


def _float_bias(ctx, node):
    """The bias as the integer product adds it: a lowered node's int32 bias dequantized;
    a fake-quant node's float bias rounded to its int32 type when it has one."""
    b = node.inputs[2] if len(node.inputs) > 2 else None
    if b is None:
        return None
    array = ctx.graph.const_value(b)
    if array is None:
        raise ctx.error(f"the bias %{b.name} of a float-run narrow conv must be a constant")
    if isinstance(b.type, QuantType):
        real = dequantize(array, b.type)
    else:
        rounding = product_rounding(node)
        bias_type = rounding.bias if rounding is not None else None
        real = dequantize(quantize(array, bias_type), bias_type) if bias_type is not None else array
    return ctx.b.initializer(np.asarray(real, np.float32), ctx.derived_name(b, "f32"))
