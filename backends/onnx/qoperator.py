"""The `qoperator` form: lowered integer ops as ONNX Runtime's quantized operators
(QLinearConv, QLinearMatMul, com.microsoft QGemm / QLinearAdd / QLinearMul /
QLinearAveragePool / QLinearGlobalAveragePool), which take scales and zero points and
requantize in float: results may differ from our dyadic arithmetic by one step.

These operators read and write one 8-bit type (uint8 or int8 containers; narrower
storage is held in them and a fused clamp or the storage range becomes a Clip). Cases
they cannot take return None and fall back to the exact integer spelling.
"""
from __future__ import annotations

import numpy as np
import onnx_ir as ir

from qcompiler.ir.types import QuantType

from .conversions import CONTAINERS, dequantize_linear, quant_params, quantize_linear, storage_initializer
from .emitters import QOPERATOR
from .float_nn import conv_input, window_attrs
from .narrow_conv import unfolded_operands, unfolds
from .opsets import MICROSOFT
from .width_blocked_conv import left_whole

EIGHT_BIT = (ir.DataType.UINT8, ir.DataType.INT8)


def container(v) -> ir.DataType:
    return CONTAINERS[v.type.storage]


def one_8bit_type(*values) -> bool:
    """All values quantized per tensor and held in one 8-bit container type, none binary (a b1
    result is a threshold, which the QLinear operators' rounding is not)."""
    kinds = {container(v) for v in values}
    return len(kinds) == 1 and kinds.pop() in EIGHT_BIT and all(v.type.axis is None and v.type.storage != "b1"
                                                                 for v in values)


def params(ctx, v) -> list:
    scale, zp, _ = quant_params(ctx, v.type)
    return [scale, zp]


def clamped(ctx, y: ir.Value, out, clamp) -> ir.Value:
    """Clip to `clamp` where it is narrower than what the 8-bit container saturates to."""
    info = np.iinfo(container(out).numpy())
    lo, hi = clamp if clamp is not None else (out.type.qmin, out.type.qmax)
    if (lo, hi) == (info.min, info.max):
        return y
    bounds = [ctx.b.constant(np.array(b, container(out).numpy())) for b in (lo, hi)]
    return ctx.b.op("Clip", [y, *bounds])


def bias_input(ctx, bias):
    if bias is None:
        return None
    return ctx.storage(bias) if isinstance(bias.type, QuantType) else ctx.real(bias)


def weight_ok(w, channel_axis: int) -> bool:
    """8-bit, per tensor or per channel on `channel_axis`: the QLinear operators have no
    per-group scales, so group-wise weights take the integer spelling."""
    return container(w) in EIGHT_BIT and w.type.group is None and (
        w.type.axis is None or w.type.axis % w.type.rank == channel_axis % w.type.rank)


@QOPERATOR.register("qconv1d", "qconv2d")
def qconv(ctx, node):
    x, w = node.inputs[:2]
    bias = node.inputs[2] if len(node.inputs) > 2 else None
    if not (one_8bit_type(x, node.output) and weight_ok(w, 0)):
        return None
    if unfolds(ctx, node) and not left_whole(ctx, node):
        data, weights = unfolded_operands(ctx, node)
        weight = storage_initializer(ctx, weights, w.type.with_shape(weights.shape), ctx.derived_name(w, "unfolded"))
        attrs = {"kernel_shape": [1, 1]}
    else:
        n = w.type.rank - 2
        data, pads = conv_input(ctx, node, ctx.storage(x), n)
        weight = ctx.storage(w)
        attrs = {**window_attrs(node, n), "pads": pads, "group": node.attrs.get("groups", 1),
                 "kernel_shape": list(w.type.shape[2:])}
    operands = [data, *params(ctx, x), weight, *params(ctx, w), *params(ctx, node.output), bias_input(ctx, bias)]
    return [clamped(ctx, ctx.b.op("QLinearConv", operands, attrs), node.output, node.attrs.get("clamp"))]


@QOPERATOR.register("qlinear")
def qlinear(ctx, node):
    x, w = node.inputs[:2]
    bias = node.inputs[2] if len(node.inputs) > 2 else None
    if not (one_8bit_type(x, node.output) and weight_ok(w, 0)):
        return None
    rows = ctx.storage(x)
    if x.type.rank != 2:  # QGemm is 2-D: [..., in] -> [rows, in] and back
        rows = ctx.b.op("Reshape", [rows, ctx.b.ints([-1, w.type.shape[1]])])
    operands = [rows, *params(ctx, x), ctx.storage(w), *params(ctx, w), bias_input(ctx, bias),
                *params(ctx, node.output)]
    y = ctx.b.op("QGemm", operands, {"transB": 1}, domain=MICROSOFT)
    if x.type.rank != 2:
        y = ctx.b.op("Reshape", [y, _result_shape(ctx, x, w.type.shape[0])])
    return [clamped(ctx, y, node.output, node.attrs.get("clamp"))]


def _result_shape(ctx, x, features: int):
    """x's shape with the last dim replaced by `features`, made once per input and width:
    the q, k and v projections of one input share it (fewer nodes, each with its cost per run)."""
    key = ("qgemm result shape", id(x), features)
    if key not in ctx.cache:
        if ctx.opset >= 15:
            leading = ctx.b.op("Shape", [ctx.storage(x)], {"end": -1})
        else:
            leading = ctx.b.op("Slice", [ctx.b.op("Shape", [ctx.storage(x)]), ctx.b.ints([0]), ctx.b.ints([-1])])
        ctx.cache[key] = ctx.b.op("Concat", [leading, ctx.b.ints([features])], {"axis": 0})
    return ctx.cache[key]


@QOPERATOR.register("qmatmul")
def qmatmul(ctx, node):
    a, b = node.inputs
    if not (one_8bit_type(a, node.output) and weight_ok(b, -1) and (b.type.axis is None or b.type.rank == 2)):
        return None
    operands = [ctx.storage(a), *params(ctx, a), ctx.storage(b), *params(ctx, b), *params(ctx, node.output)]
    return [clamped(ctx, ctx.b.op("QLinearMatMul", operands), node.output, node.attrs.get("clamp"))]


@QOPERATOR.register("qadd", "qmul")
def qbinary(ctx, node):
    a, b = node.inputs
    if not one_8bit_type(a, b, node.output):
        return None
    op = "QLinearAdd" if node.op == "qadd" else "QLinearMul"
    operands = [ctx.storage(a), *params(ctx, a), ctx.storage(b), *params(ctx, b), *params(ctx, node.output)]
    return [clamped(ctx, ctx.b.op(op, operands, domain=MICROSOFT), node.output, node.attrs.get("clamp"))]


@QOPERATOR.register("qavg_pool2d")
def qavg_pool(ctx, node):
    x = node.inputs[0]
    if not one_8bit_type(x, node.output):
        return None
    kernel = list(node.attrs["kernel"])
    attrs = {**window_attrs(node, 2, stride_default=kernel, dilations=False), "kernel_shape": kernel,
             "ceil_mode": int(bool(node.attrs.get("ceil_mode", False))),
             "count_include_pad": int(bool(node.attrs.get("count_include_pad", True)))}
    operands = [ctx.storage(x), *params(ctx, x), *params(ctx, node.output)]
    return [clamped(ctx, ctx.b.op("QLinearAveragePool", operands, attrs, domain=MICROSOFT), node.output, None)]


@QOPERATOR.register("qglobal_avg_pool")
def qglobal_avg_pool(ctx, node):
    x = node.inputs[0]
    if not one_8bit_type(x, node.output) or x.type.rank != 4:
        return None
    operands = [ctx.storage(x), *params(ctx, x), *params(ctx, node.output)]
    y = ctx.b.op("QLinearGlobalAveragePool", operands, {"channels_last": 0}, domain=MICROSOFT)
    return [clamped(ctx, y, node.output, None)]


@QOPERATOR.register("requantize")
def requantize(ctx, node):
    """Through float, as ONNX Runtime requantizes (QuantizeLinear saturates to the storage)."""
    (x,) = node.inputs
    return [quantize_linear(ctx, dequantize_linear(ctx, ctx.storage(x), x.type), node.output.type)]
