"""qconv1d, qconv2d, qlinear and qmatmul prepared for the Numba kernels, their results
written in their narrow storage container (common.storage_dtype; int32 from the
bit-serial kernels).

Constant weights are packed and their accumulator bound checked once, at preparation;
a weight that is computed at run time is packed on each call. qconv1d runs as qconv2d
of height 1; qlinear and qmatmul share the batched product kernel.
"""
from __future__ import annotations

import numpy as np

from qcompiler.ir.core import Node
from qcompiler.ir.ops.quant_conv import check_length
from qcompiler.ir.ops.spatial import ints_attr, pads_attr, plan_windows
from qcompiler.runtime.reference import ExecutionError

from ..kernels.conv import qconv2d_kernel
from ..kernels.conv_im2col import qconv2d_im2col_kernel, qconv2d_im2col_tiled_kernel
from ..kernels.linear import (product_tasks, qproduct16_kernel, qproduct_kernel, qproduct_parallel,
                              qproduct_tiled_kernel)
from ..kernels.tile16 import HAS_AVX512BW, LANES
from ..weights import (centred_int16_rows, fits_int16_centred, needs_wide_accumulator, pack_weight_rows,
                       tiled_rows16, zero_points_per_row)
from .binary_results import binary_result
from .bitserial import bitserial_plan, run_bitserial_conv, run_bitserial_linear
from .common import (NUMPY_PAD_MODE, Step, attrs_of, check_overflow, const_input, quant_input, quant_result,
                     requant_of, storage_int32, zero_point)
from .conv_vnni import run_vnni_conv, run_vnni_linear, vnni_conv_weights
from .serial_or_parallel import run_rows


def _bias(b, channels: int) -> np.ndarray:
    """A writable int32 copy (constants are read-only, which would compile another kernel signature)."""
    return np.zeros(channels, np.int32) if b is None else np.array(np.asarray(b).reshape(-1), np.int32)


def bias_source(node: Node, i: int, channels: int):
    """A function from the run-time bias (or None) to the kernel's bias; fixed when constant or absent."""
    if i < len(node.inputs) and node.inputs[i] is not None and const_input(node, i) is None:
        return lambda b: _bias(b, channels)
    fixed = _bias(const_input(node, i), channels)
    return lambda b: fixed


def _weights_source(node: Node, w_index: int, to_rows, rows: int, axis: int):
    """A function returning the PackedWeights for the weight array seen at run time
    (the constant one, packed now, when the weight is a constant)."""
    t = quant_input(node, w_index, "w", per_tensor=False)
    zps = zero_points_per_row(t, rows, axis, f"node {node.label()}")

    def pack(w):
        return pack_weight_rows(to_rows(np.asarray(w)), t, zps, f"node {node.label()}")

    const = const_input(node, w_index)
    if const is None:
        return pack
    packed = pack(const)
    return lambda w: packed


def wide_accumulator_source(node: Node, weights_for, bias_for, x_t):
    """A function (weights, bias) -> whether |acc| < 2^31 cannot be proven (`needs_wide_accumulator`),
    answered once, at preparation, when the weight and the bias (or its absence) are constants."""
    bias_fixed = len(node.inputs) < 3 or node.inputs[2] is None or const_input(node, 2) is not None
    if const_input(node, 1) is None or not bias_fixed:
        return lambda weights, bias: needs_wide_accumulator(weights, bias, x_t)
    wide = needs_wide_accumulator(weights_for(None), bias_for(None), x_t)
    return lambda weights, bias: wide


def conv_geometry(node: Node, attrs: dict, x, kernel: tuple) -> tuple:
    """(x as [N, C, H, W], output (OH, OW), stride, dilation, pads begin, pads end) of a qconv1d /
    qconv2d; a 1-D convolution is a 2-D one of height 1."""
    spatial = 1 if node.op == "qconv1d" else 2
    where = f"node {node.label()}"
    stride = ints_attr(attrs["stride"], spatial, 1, "stride", where, 1)
    dilation = ints_attr(attrs["dilation"], spatial, 1, "dilation", where, 1)
    begin, end = pads_attr(attrs["pad"], spatial, where)
    if spatial == 1:
        x = x[:, :, None, :]
        stride, dilation, begin, end = (1,) + stride, (1,) + dilation, (0,) + begin, (0,) + end
    plan = plan_windows(x.shape[2:], kernel, stride, dilation, begin, end, where)
    return x, plan.out, stride, dilation, begin, end


def conv_input(node: Node, attrs: dict, x_t, x, kernel: tuple, dtype=np.int32) -> tuple:
    """(centred input padded with zeros (= the zero point) as [N, C, Hp, Wp] `dtype`, output
    (OH, OW), stride, dilation) of a qconv1d / qconv2d."""
    x, out_hw, stride, dilation, begin, end = conv_geometry(node, attrs, x, kernel)
    centred = (storage_int32(x) - np.int32(zero_point(x_t))).astype(dtype, copy=False)
    xc = np.pad(centred, [(0, 0), (0, 0)] + list(zip(begin, end)), mode=NUMPY_PAD_MODE[attrs["pad_mode"]])
    return np.ascontiguousarray(xc), out_hw, stride, dilation


def prepare_qconv(node: Node) -> Step:
    spatial = 1 if node.op == "qconv1d" else 2
    attrs = attrs_of(node)
    x_t = quant_input(node, 0, "x")
    quant_result(node)
    w_t = quant_input(node, 1, "w", per_tensor=False)
    cout = w_t.shape[0]
    groups = attrs["groups"]
    rq, finish = binary_result(node, requant_of(node, cout), 1)
    weights_for = _weights_source(node, 1, lambda w: w.reshape(cout, -1), cout, 0)
    bias_for = bias_source(node, 2, cout)
    kernel = tuple(w_t.shape[2:]) if spatial == 2 else (1, w_t.shape[2])
    def im2col_rows(weights):  # int16 weight rows in the layout of the host's im2col kernel
        rows16 = centred_int16_rows(weights)
        return tiled_rows16(rows16, groups, LANES) if rows16 is not None and HAS_AVX512BW else rows16

    # bit planes (1-2-bit weights) or int16 rows, made once when the weight is constant
    bitserial = bitserial_plan(w_t, weights_for(None), x_t, groups, kernel) \
        if const_input(node, 1) is not None else None
    # u8 x s8 VNNI layout (AVX-512 VNNI hosts, 8-bit operands), else int16 rows
    vnni = vnni_conv_weights(weights_for(None), x_t, groups, kernel) \
        if const_input(node, 1) is not None and bitserial is None else None
    fixed_rows16 = im2col_rows(weights_for(None)) \
        if const_input(node, 1) is not None and bitserial is None and vnni is None else None
    x_fits_int16 = fits_int16_centred(x_t)
    wide_for = wide_accumulator_source(node, weights_for, bias_for, x_t)
    geometry = {}  # input shape -> conv_geometry without the input: Python work once per shape

    def geometry_of(x):
        if x.shape not in geometry:
            geometry[x.shape] = conv_geometry(node, attrs, x, kernel)[1:]
        return (x[:, :, None, :] if spatial == 1 else x, *geometry[x.shape])

    def run(args):
        x, w = args[0], args[1]
        b = args[2] if len(args) > 2 else None
        weights = weights_for(w)
        bias = bias_for(b)
        wide = wide_for(weights, bias)
        if bitserial is not None and not wide:
            x4, out_hw, stride, dilation, begin, end = geometry_of(x)
            out = run_bitserial_conv(bitserial, x4, attrs["pad_mode"], begin, end, stride, dilation, out_hw, bias,
                                     rq, finish)
            return [out[:, :, 0, :] if spatial == 1 else out]
        if vnni is not None and not wide:
            x4, out_hw, stride, dilation, begin, end = geometry_of(x)
            out = np.empty((x.shape[0], cout) + out_hw, rq.dtype)
            run_vnni_conv(vnni, x4, attrs["pad_mode"], begin, end, stride, dilation, bias, rq, out)
            return [finish(out[:, :, 0, :] if spatial == 1 else out)]
        rows16 = None if wide or not x_fits_int16 else \
            fixed_rows16 if fixed_rows16 is not None else im2col_rows(weights)
        xc, out_hw, stride, dilation = conv_input(node, attrs, x_t, x, kernel,
                                                  np.int32 if rows16 is None else np.int16)
        out = np.empty((x.shape[0], cout) + out_hw, rq.dtype)
        overflow = np.zeros(x.shape[0] * cout, np.uint8)
        if rows16 is not None and HAS_AVX512BW:
            qconv2d_im2col_tiled_kernel(xc, rows16, kernel[0], kernel[1], stride[0], stride[1], dilation[0],
                                        dilation[1], bias, rq.multiplier, rq.shift, rq.zero_point, rq.lo, rq.hi,
                                        rq.mode, out)
        elif rows16 is not None:
            qconv2d_im2col_kernel(xc, rows16, groups, kernel[0], kernel[1], stride[0], stride[1], dilation[0],
                                  dilation[1], bias, rq.multiplier, rq.shift, rq.zero_point, rq.lo, rq.hi, rq.mode,
                                  out)
        else:
            qconv2d_kernel(xc, weights.packed, weights.bits, weights.signed, weights.zero_point, bias, groups,
                           kernel[0], kernel[1], stride[0], stride[1], dilation[0], dilation[1], rq.multiplier,
                           rq.shift, rq.zero_point, rq.lo, rq.hi, rq.mode, np.zeros(1, np.int64 if wide else np.int32),
                           out, overflow)
        check_overflow(node, overflow)
        return [finish(out[:, :, 0, :] if spatial == 1 else out)]

    return run


def _product(node: Node, x3: np.ndarray, weights, bias, x_t, rq, wide: bool, rows16=None) -> np.ndarray:
    """x3: storage [B, M, K]; weights packed [Bw, N, bytes] (Bw 1 or B) or [N, bytes] -> out [B, M, N].
    wide: the int32 accumulator is not proven (`needs_wide_accumulator`). rows16: the weights as
    centred int16 rows when they and the input fit int16: [N, K], or on AVX-512 BW hosts
    zero-padded to [N rounded up to 4, K rounded up to LANES] for the tile kernel."""
    packed = weights.packed if weights.packed.ndim == 3 else weights.packed[None]
    n_out = packed.shape[1]
    out = np.empty((x3.shape[0], x3.shape[1], n_out), rq.dtype)
    if rows16 is not None and not wide and HAS_AVX512BW:
        xc = np.zeros((x3.shape[0], -(-x3.shape[1] // 4) * 4, rows16.shape[-1]), np.int16)
        xc[:, :x3.shape[1], :x3.shape[2]] = storage_int32(x3) - np.int32(zero_point(x_t))
        qproduct_tiled_kernel(xc, rows16, bias, rq.multiplier, rq.shift, rq.zero_point, rq.lo, rq.hi, rq.mode, out)
        return out
    if rows16 is not None and not wide:
        xc = (storage_int32(x3) - np.int32(zero_point(x_t))).astype(np.int16)
        qproduct16_kernel(xc, rows16[None], bias, rq.multiplier, rq.shift, rq.zero_point, rq.lo, rq.hi, rq.mode,
                          out)
        return out
    xc = storage_int32(x3) - np.int32(zero_point(x_t))
    overflow = np.zeros(x3.shape[0] * n_out, np.uint8)
    run_rows(qproduct_kernel, qproduct_parallel, product_tasks(out), xc.size * n_out, xc, packed, weights.bits,
             weights.signed, weights.zero_point, bias, rq.multiplier, rq.shift, rq.zero_point, rq.lo, rq.hi, rq.mode,
             wide, out, overflow)
    check_overflow(node, overflow)
    return out


def prepare_qlinear(node: Node) -> Step:
    x_t, w_t = quant_input(node, 0, "x"), quant_input(node, 1, "w", per_tensor=False)
    quant_result(node)
    n_out = w_t.shape[0]
    rq, finish = binary_result(node, requant_of(node, n_out), -1)
    weights_for = _weights_source(node, 1, lambda w: w, n_out, 0)
    bias_for = bias_source(node, 2, n_out)
    # bit planes (1-2-bit weights) or int16 weight rows for the vpmaddwd kernel, made once for a constant weight
    bitserial = bitserial_plan(w_t, weights_for(None), x_t, 1) if const_input(node, 1) is not None else None
    # or the u8 x s8 VNNI layout: rows are positions of a 1x1 convolution (AVX-512 VNNI hosts, 8-bit operands)
    vnni = vnni_conv_weights(weights_for(None), x_t, 1, (1, 1)) \
        if const_input(node, 1) is not None and bitserial is None else None
    rows16 = centred_int16_rows(weights_for(None)) if const_input(node, 1) is not None and \
        fits_int16_centred(x_t) and bitserial is None and vnni is None else None
    if rows16 is not None and HAS_AVX512BW:
        rows16 = tiled_rows16(rows16, 1, LANES)[0]
    wide_for = wide_accumulator_source(node, weights_for, bias_for, x_t)

    def run(args):
        x, w = args[0], args[1]
        b = args[2] if len(args) > 2 else None
        bias = bias_for(b)
        k = x.shape[-1]
        weights = weights_for(w)
        wide = wide_for(weights, bias)
        if bitserial is not None and not wide:
            out = run_bitserial_linear(bitserial, np.asarray(x).reshape(-1, k), bias, rq, finish)
            return [out.reshape(x.shape[:-1] + (n_out,))]
        if vnni is not None and not wide:
            out = run_vnni_linear(vnni, np.asarray(x).reshape(-1, k), bias, rq)
            return [finish(out.reshape(x.shape[:-1] + (n_out,)))]
        out = _product(node, np.asarray(x).reshape(1, -1, k), weights, bias, x_t, rq, wide, rows16)
        return [finish(out.reshape(x.shape[:-1] + (n_out,)))]

    return run


def prepare_qmatmul(node: Node) -> Step:
    """numpy matmul semantics: batch dims broadcast, a 1-D operand gains and loses a dim.
    A symbolic column count (Q·Kᵀ over a dynamic sequence) expands its per-column
    parameters at run time, once per count seen; a symbolic K is checked against
    `max_terms`."""
    max_terms = attrs_of(node)["max_terms"]
    a_t, b_t = quant_input(node, 0, "a"), quant_input(node, 1, "b", per_tensor=False)
    quant_result(node)
    columns = {}

    def per_column(n_out: int) -> tuple:  # (requantization, zero points, zero bias) for n_out columns
        if n_out not in columns:
            zps = zero_points_per_row(b_t, n_out, -1, f"node {node.label()}") if b_t.rank >= 2 else \
                np.full(n_out, zero_point(b_t), np.int32)
            columns[n_out] = requant_of(node, n_out), zps, np.zeros(n_out, np.int32)
        return columns[n_out]

    def pack(b, batch):  # [..., K, N] (or [K]) -> packed rows [Bw, N, bytes], Bw = 1 or the batch size
        n_out = b.shape[-1] if b.ndim >= 2 else 1
        if b.ndim == 1:
            rows = b[None, None, :]
        else:
            rows = np.swapaxes(np.broadcast_to(b, batch + b.shape[-2:]) if b.ndim > 2 else b, -1, -2)
        return pack_weight_rows(rows.reshape(-1, n_out, rows.shape[-1]), b_t, per_column(n_out)[1],
                                f"node {node.label()}")

    const = const_input(node, 1)
    packed_const = pack(const, ()) if const is not None and const.ndim <= 2 else None

    def run(args):
        a, b = np.asarray(args[0]), np.asarray(args[1])
        a2 = a[None, :] if a.ndim == 1 else a
        batch = np.broadcast_shapes(a2.shape[:-2], b.shape[:-2])
        m, k = a2.shape[-2:]
        try:
            check_length(k, max_terms)
        except OverflowError as e:
            raise ExecutionError(f"node {node.label()} failed: {e}") from e
        n_out = b.shape[-1] if b.ndim >= 2 else 1
        rq, _, no_bias = per_column(n_out)
        x3 = np.broadcast_to(a2, batch + (m, k)).reshape(-1, m, k)
        weights = packed_const if packed_const is not None else pack(b, batch)
        wide = needs_wide_accumulator(weights, no_bias, a_t)
        out = _product(node, x3, weights, no_bias, a_t, rq, wide).reshape(batch + (m, n_out))
        if b.ndim == 1:
            out = out[..., 0]
        if a.ndim == 1:
            out = out[..., 0, :] if b.ndim > 1 else out[..., 0]
        return [out]

    return run
