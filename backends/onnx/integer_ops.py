"""The `integer` form: each lowered integer op (qcompiler/ir/ops/quant_*.py) spelled out
in exact integer ONNX ops, so its storage results equal the reference interpreter's.

Products accumulate in ConvInteger / MatMulInteger (int32, zero points subtracted by
the op, padding with the input zero point, i.e. real 0), add the int32 bias, and
requantize in int64 (integer_arith.py); group-wise weights take one partial sum per
block (integer_groups.py). Pools sum zero-point-centred storage: windows
with a ConvInteger of ones, global pools with ReduceSum (over a run-time area, divided
by the count read from the shape: integer_arith.mean_requantize). A table lookup is a Gather.
On x86 without VNNI, ONNX Runtime's u8 x s8 kernels add pairs of products in int16
with saturation; the lowering keeps weights in 7 bits for such targets (x86-avx2).
"""
from __future__ import annotations

import numpy as np
import onnx_ir as ir

from .conversions import CONTAINERS
from .emitters import INTEGER
from .float_nn import conv_input, window_attrs
from .integer_arith import (INT64, add_zero_point, centered, clamp_to_storage, mean_requantize, per_channel,
                            requantize, rounding_shift, storage8, zero_point_input)
from .integer_groups import grouped_conv, grouped_product


def conv_weight(ctx, w):
    """(weight, zero point) for ConvInteger, which takes one weight zero point: per-channel
    zero points are subtracted into the weights where the difference still fits int8."""
    t = w.type
    zps = t.zero_point.array.reshape(-1).astype(np.int64)
    if np.all(zps == zps[0]):
        return storage8(ctx, w), zero_point_input(ctx, t)
    array = ctx.graph.const_value(w)
    if array is not None:
        shifted = array.astype(np.int64) - per_channel(zps, array.ndim, t.axis)
        if shifted.min() >= -128 and shifted.max() <= 127:
            return ctx.b.initializer(shifted.astype(np.int8), ctx.derived_name(w, "centred")), None
    raise ctx.error(f"weight %{w.name} has per-channel zero points; ONNX Runtime's ConvInteger takes one, and "
                    "the centred weights do not fit int8 (quantize the weights symmetrically)")


def with_bias(ctx, acc: ir.Value, bias, rank: int, axis: int) -> ir.Value:
    """int32 accumulator (+ the i32 bias) as int64."""
    acc = ctx.b.op("Cast", [acc], {"to": INT64})
    if bias is None:
        return acc
    return ctx.b.op("Add", [acc, ctx.b.constant(per_channel(ctx.graph.const_value(bias), rank, axis))])


def _requantized(ctx, node, acc: ir.Value, axis: int) -> ir.Value:
    a = node.attrs
    return requantize(ctx, acc, node.output.type, a["multiplier"].array, a["shift"].array, a["rounding"],
                      a.get("clamp"), rank=node.output.type.rank, axis=axis)


@INTEGER.register("qconv1d", "qconv2d")
def qconv(ctx, node):
    x, w = node.inputs[:2]
    bias = node.inputs[2] if len(node.inputs) > 2 else None
    if w.type.group is not None:
        return [grouped_conv(ctx, node)]
    n = w.type.rank - 2
    data, pads = conv_input(ctx, node, storage8(ctx, x), n)
    weight, w_zp = conv_weight(ctx, w)
    attrs = {**window_attrs(node, n), "pads": pads, "group": node.attrs.get("groups", 1),
             "kernel_shape": list(w.type.shape[2:])}
    acc = ctx.b.op("ConvInteger", [data, weight, zero_point_input(ctx, x.type), w_zp], attrs)
    return [_requantized(ctx, node, with_bias(ctx, acc, bias, node.output.type.rank, 1), 1)]


@INTEGER.register("qlinear")
def qlinear(ctx, node):
    x, w = node.inputs[:2]
    bias = node.inputs[2] if len(node.inputs) > 2 else None
    if w.type.group is not None:
        return [grouped_product(ctx, node)]
    array = ctx.graph.const_value(w)
    if array is None:
        raise ctx.error(f"the weight %{w.name} of qlinear is not a constant")
    weight_t = ctx.b.initializer(array.T.astype(CONTAINERS[w.type.storage].numpy()), ctx.derived_name(w, "transposed"))
    acc = ctx.b.op("MatMulInteger", [storage8(ctx, x), weight_t, zero_point_input(ctx, x.type),
                                     zero_point_input(ctx, w.type)])
    rank = node.output.type.rank
    return [_requantized(ctx, node, with_bias(ctx, acc, bias, rank, rank - 1), rank - 1)]


@INTEGER.register("qmatmul")
def qmatmul(ctx, node):
    a, b = node.inputs
    if b.type.group is not None:
        return [grouped_product(ctx, node)]
    acc = ctx.b.op("MatMulInteger", [storage8(ctx, a), storage8(ctx, b), zero_point_input(ctx, a.type),
                                     zero_point_input(ctx, b.type)])
    rank = node.output.type.rank
    return [_requantized(ctx, node, ctx.b.op("Cast", [acc], {"to": INT64}), rank - 1)]


@INTEGER.register("qadd")
def qadd(ctx, node):
    a, b = node.inputs
    attrs = node.attrs
    multipliers = [int(attrs[k].array.reshape(-1)[0]) for k in ("multiplier_a", "multiplier_b")]
    shift = int(attrs["shift"].array.reshape(-1)[0])
    if shift >= 63:  # rounds every sum to 0 (see integer_arith.requantize)
        multipliers, shift = [0, 0], 62
    terms = [ctx.b.op("Mul", [centered(ctx, ctx.storage(v), v.type), ctx.b.constant(np.array(m, np.int64))])
             for v, m in zip(node.inputs, multipliers)]
    y = rounding_shift(ctx, ctx.b.op("Add", terms), np.array(shift, np.int64), attrs["rounding"])
    return [clamp_to_storage(ctx, add_zero_point(ctx, y, node.output.type), node.output.type, attrs["clamp"])]


@INTEGER.register("qmul")
def qmul(ctx, node):
    a, b = node.inputs
    acc = ctx.b.op("Mul", [centered(ctx, ctx.storage(a), a.type), centered(ctx, ctx.storage(b), b.type)])
    return [_requantized(ctx, node, acc, 1)]


@INTEGER.register("requantize")
def requantize_op(ctx, node):
    (x,) = node.inputs
    return [_requantized(ctx, node, centered(ctx, ctx.storage(x), x.type), 1)]


@INTEGER.register("qavg_pool2d")
def qavg_pool(ctx, node):
    x = node.inputs[0]
    channels = x.type.shape[1]
    if not isinstance(channels, int):
        raise ctx.error(f"average pooling over a dynamic number of channels ({channels})")
    kernel = list(node.attrs["kernel"])
    # every window counts the full kernel (the op requires it), so a depthwise ConvInteger
    # of ones gives the window sums of storage minus zero point, padding counting as 0
    ones = ctx.b.constant(np.ones([channels, 1] + kernel, np.uint8))
    attrs = {**window_attrs(node, 2, stride_default=kernel, dilations=False), "kernel_shape": kernel,
             "group": channels}
    sums = ctx.b.op("ConvInteger", [storage8(ctx, x), ones, zero_point_input(ctx, x.type)], attrs)
    return [_requantized(ctx, node, ctx.b.op("Cast", [sums], {"to": INT64}), 1)]


@INTEGER.register("qglobal_avg_pool")
def qglobal_avg_pool(ctx, node):
    x = node.inputs[0]
    axes = ctx.b.ints(range(2, x.type.rank))
    sums = ctx.b.op("ReduceSum", [centered(ctx, ctx.storage(x), x.type), axes], {"keepdims": 1})
    if not node.attrs.get("runtime_count"):
        return [_requantized(ctx, node, sums, 1)]
    # the spatial size per channel, read at run time: all elements over the N·C sums
    count = ctx.b.op("Div", [ctx.b.op("Size", [ctx.storage(x)]), ctx.b.op("Size", [sums])])
    a = node.attrs
    return [mean_requantize(ctx, sums, count, node.output.type, int(a["multiplier"].array.reshape(-1)[0]),
                            int(a["shift"].array.reshape(-1)[0]), a["rounding"])]


@INTEGER.register("qlut")
def qlut(ctx, node):
    x = node.inputs[0]
    out = node.output.type
    index = ctx.b.op("Cast", [ctx.storage(x)], {"to": INT64})
    if x.type.qmin != 0:
        index = ctx.b.op("Sub", [index, ctx.b.constant(np.array(x.type.qmin, np.int64))])
    table = ctx.b.initializer(node.attrs["table"].array.astype(CONTAINERS[out.storage].numpy()),
                              f"{ctx.b.scope}:table")
    return [ctx.b.op("Gather", [table, index], {"axis": 0})]

