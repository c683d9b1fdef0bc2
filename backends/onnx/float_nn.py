"""Float emitters for convolutions, matrix products, normalizations and pools (the
mirror image of qcompiler/frontends/onnx_ops_nn.py). Pads are always explicit; a fused
activation becomes the ONNX op that follows."""
from __future__ import annotations

import numpy as np

from qcompiler.ir.ops.pool import _bin_matrix
from qcompiler.ir.ops.spatial import ints_attr, pads_attr

from .emitters import FLOAT
from .float_math import dtype_of, fused_activation
from .conversions import dequantize_linear, storage_initializer
from .narrow_conv import unfolded_operands, unfolds
from .product_rounding import bias_operand, rounded_preactivation

# catalog pad modes of convolutions -> ONNX Pad modes, with the opset that has them
PAD_MODES = {"reflect": ("reflect", 11), "replicate": ("edge", 11), "circular": ("wrap", 19)}


def window_attrs(node, n: int, *, stride_default=None, dilations: bool = True) -> dict:
    """pads / strides / dilations of a conv or pool node as ONNX attributes (a missing
    stride is 1 for convolutions and the kernel for pools, as in torch)."""
    a, where = node.attrs, node.label()
    begin, end = pads_attr(a.get("pad"), n, where)
    stride = a.get("stride")
    attrs = {"pads": list(begin) + list(end),
             "strides": list(stride_default or [1] * n) if stride is None else
             list(ints_attr(stride, n, 1, "stride", where, 1))}
    if dilations:
        attrs["dilations"] = list(ints_attr(a.get("dilation"), n, 1, "dilation", where, 1))
    return attrs


def conv_input(ctx, node, x, n: int):
    """The conv input, padded first for the non-zero pad modes; and the Conv pads."""
    mode = node.attrs.get("pad_mode", "zeros")
    begin, end = pads_attr(node.attrs.get("pad"), n, node.label())
    if mode == "zeros":
        return x, list(begin) + list(end)
    onnx_mode, since = PAD_MODES[mode]
    if ctx.opset < since:
        raise ctx.error(f"pad_mode {mode!r} needs ONNX Pad mode {onnx_mode!r}, which needs opset >= {since}")
    pads = ctx.b.ints([0, 0, *begin, 0, 0, *end])
    return ctx.b.op("Pad", [x, pads], {"mode": onnx_mode}), [0] * 2 * n


@FLOAT.register("conv1d", "conv2d")
def conv(ctx, node):
    x, w = node.inputs[:2]
    b = node.inputs[2] if len(node.inputs) > 2 else None
    n = w.type.rank - 2
    if unfolds(ctx, node):
        unfolded, weights = unfolded_operands(ctx, node)
        weight_type = w.type.with_shape(weights.shape)
        data = dequantize_linear(ctx, unfolded, x.type)
        weight = dequantize_linear(ctx, storage_initializer(ctx, weights, weight_type, ctx.derived_name(w, "unfolded")),
                                   weight_type)
        attrs = {"kernel_shape": [1, 1]}
    else:
        data, pads = conv_input(ctx, node, ctx.real(x), n)
        weight = ctx.real(w)
        attrs = {**window_attrs(node, n), "pads": pads, "group": node.attrs.get("groups", 1),
                 "kernel_shape": list(w.type.shape[2:])}
    y = ctx.b.op("Conv", [data, weight, bias_operand(ctx, node)], attrs)
    return [fused_activation(ctx, node, rounded_preactivation(ctx, node, y))]


@FLOAT.register("conv_transpose2d")
def conv_transpose(ctx, node):
    x, w = node.inputs[:2]
    b = node.inputs[2] if len(node.inputs) > 2 else None
    attrs = {**window_attrs(node, 2), "group": node.attrs.get("groups", 1), "kernel_shape": list(w.type.shape[2:]),
             "output_padding": list(ints_attr(node.attrs.get("output_padding"), 2, 0, "output_padding",
                                              node.label(), 0))}
    y = ctx.b.op("ConvTranspose", [ctx.real(x), ctx.real(w), ctx.real(b)], attrs)
    return [fused_activation(ctx, node, y)]


def transposed_weight(ctx, w):
    """wᵀ for a MatMul: folded into the initializer when w is a constant."""
    array = ctx.const(w)
    if array is not None:
        return ctx.b.initializer(array.T.copy(), ctx.derived_name(w, "transposed"))
    return ctx.b.op("Transpose", [ctx.real(w)], {"perm": [1, 0]})


@FLOAT.register("linear")
def linear(ctx, node):
    x, w = node.inputs[:2]
    b = node.inputs[2] if len(node.inputs) > 2 else None
    if x.type.rank == 2:
        y = ctx.b.op("Gemm", [ctx.real(x), ctx.real(w), bias_operand(ctx, node)], {"transB": 1})
    else:
        y = ctx.b.op("MatMul", [ctx.real(x), transposed_weight(ctx, w)])
        if b is not None:
            y = ctx.b.op("Add", [y, bias_operand(ctx, node)])
    return [fused_activation(ctx, node, rounded_preactivation(ctx, node, y))]


@FLOAT.register("gemm")
def gemm(ctx, node):
    a = node.attrs
    attrs = {"alpha": float(a.get("alpha", 1.0)), "beta": float(a.get("beta", 1.0)),
             "transA": int(bool(a.get("trans_a", False))), "transB": int(bool(a.get("trans_b", False)))}
    return [ctx.b.op("Gemm", [ctx.real(v) for v in node.inputs], attrs)]


@FLOAT.register("matmul")
def matmul(ctx, node):
    return [ctx.b.op("MatMul", [ctx.real(v) for v in node.inputs])]


@FLOAT.register("batch_norm")
def batch_norm(ctx, node):
    return [ctx.b.op("BatchNormalization", [ctx.real(v) for v in node.inputs],
                     {"epsilon": float(node.attrs.get("eps", 1e-5))})]


@FLOAT.register("instance_norm")
def instance_norm(ctx, node):
    return [ctx.b.op("InstanceNormalization", [ctx.real(v) for v in node.inputs],
                     {"epsilon": float(node.attrs.get("eps", 1e-5))})]


@FLOAT.register("lrn")
def lrn(ctx, node):
    attrs = {"size": int(node.attrs["size"]), "alpha": float(node.attrs.get("alpha", 1e-4)),
             "beta": float(node.attrs.get("beta", 0.75)), "bias": float(node.attrs.get("bias", 1.0))}
    return [ctx.b.op("LRN", [ctx.real(node.inputs[0])], attrs)]


@FLOAT.register("layer_norm")
def layer_norm(ctx, node):
    x = node.inputs[0]
    weight, bias = (node.inputs[i] if len(node.inputs) > i else None for i in (1, 2))
    axis = node.attrs.get("axis", -1) % x.type.rank
    eps = float(node.attrs.get("eps", 1e-5))
    dtype = np.dtype(np.float64 if dtype_of(x) == "f64" else np.float16 if dtype_of(x) == "f16" else np.float32)
    if ctx.opset >= 17 and weight is not None:
        return [ctx.b.op("LayerNormalization", [ctx.real(x), ctx.real(weight), ctx.real(bias)],
                         {"axis": axis, "epsilon": eps})]
    # (x - mean) / sqrt(var + eps) * weight + bias, variance without Bessel's correction
    axes = list(range(axis, x.type.rank))
    centred = ctx.b.op("Sub", [ctx.real(x), _mean(ctx, ctx.real(x), axes)])
    var = _mean(ctx, ctx.b.op("Mul", [centred, centred]), axes)
    std = ctx.b.op("Sqrt", [ctx.b.op("Add", [var, ctx.b.constant(np.array(eps, dtype))])])
    y = ctx.b.op("Div", [centred, std])
    if weight is not None:
        y = ctx.b.op("Mul", [y, ctx.real(weight)])
    if bias is not None:
        y = ctx.b.op("Add", [y, ctx.real(bias)])
    return [y]


def _mean(ctx, x, axes: list):
    if ctx.opset >= 18:
        return ctx.b.op("ReduceMean", [x, ctx.b.ints(axes)], {"keepdims": 1})
    return ctx.b.op("ReduceMean", [x], {"axes": axes, "keepdims": 1})


@FLOAT.register("max_pool1d", "max_pool2d")
def max_pool(ctx, node):
    n = node.inputs[0].type.rank - 2
    kernel = list(node.attrs["kernel"])
    attrs = {**window_attrs(node, n, stride_default=kernel), "kernel_shape": kernel,
             "ceil_mode": int(bool(node.attrs.get("ceil_mode", False)))}
    return [ctx.b.op("MaxPool", [ctx.real(node.inputs[0])], attrs)]


@FLOAT.register("avg_pool1d", "avg_pool2d")
def avg_pool(ctx, node):
    n = node.inputs[0].type.rank - 2
    kernel = list(node.attrs["kernel"])
    attrs = {**window_attrs(node, n, stride_default=kernel, dilations=False), "kernel_shape": kernel,
             "ceil_mode": int(bool(node.attrs.get("ceil_mode", False))),
             "count_include_pad": int(bool(node.attrs.get("count_include_pad", True)))}
    return [ctx.b.op("AveragePool", [ctx.real(node.inputs[0])], attrs)]


@FLOAT.register("global_avg_pool", "global_max_pool")
def global_pool(ctx, node):
    op = "GlobalAveragePool" if node.op == "global_avg_pool" else "GlobalMaxPool"
    return [ctx.b.op(op, [ctx.real(node.inputs[0])])]


@FLOAT.register("adaptive_avg_pool2d")
def adaptive_avg_pool(ctx, node):
    x = node.inputs[0]
    (h, w), (oh, ow) = x.type.shape[2:], node.attrs["output_size"]
    if not (isinstance(h, int) and isinstance(w, int)):
        raise ctx.error(f"adaptive average pooling of the dynamic spatial dims {[h, w]}")
    if (oh, ow) == (1, 1):
        return [ctx.b.op("GlobalAveragePool", [ctx.real(x)])]
    if h % oh == 0 and w % ow == 0:  # equal bins: a plain average pool
        kernel = [h // oh, w // ow]
        return [ctx.b.op("AveragePool", [ctx.real(x)], {"kernel_shape": kernel, "strides": kernel})]
    # torch's overlapping bins are separable averages: rows @ x @ colsᵀ
    dtype = np.float64 if dtype_of(x) == "f64" else np.float32
    rows = ctx.b.initializer(_bin_matrix(h, oh, dtype), f"{ctx.b.scope}:row_bins")
    cols = ctx.b.initializer(_bin_matrix(w, ow, dtype).T.copy(), f"{ctx.b.scope}:column_bins")
    return [ctx.b.op("MatMul", [rows, ctx.b.op("MatMul", [ctx.real(x), cols])])]
