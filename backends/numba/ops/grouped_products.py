"""qconv1d, qconv2d, qlinear and qmatmul whose weight is quantized per group
(qcompiler/ir/ops/quant_group.py), prepared for the group-wise kernels: the constant
weight is centred by its block zero points and laid out block by block once, with one
multiplier per block and the bias multiplier (the channel's largest) per channel."""
from __future__ import annotations

import numpy as np

from qcompiler.ir.core import Node
from qcompiler.ir.ops.quant_common import centered
from qcompiler.ir.ops.quant_group import bias_multipliers

from ..errors import NumbaBackendError
from ..kernels.conv import TAPS
from ..kernels.conv_grouped import qconv2d_grouped_kernel
from ..kernels.product_grouped import qproduct_grouped_kernel
from ..kernels.rounding import ROUNDING_CODES
from .common import (Step, attrs_of, const_input, quant_input, quant_result, storage_dtype, storage_int32,
                     zero_point)
from .products import bias_source, conv_input


def on_weight_granularity(per_channel, grouped):
    """prepare(node) choosing the group-wise kernels when the weight is quantized per group."""
    def prepare(node: Node) -> Step:
        return (grouped if getattr(node.inputs[1].type, "group", None) is not None else per_channel)(node)

    return prepare


def _centred_weight(node: Node) -> tuple:
    """(weight storage minus its block zero points as int64, the block multipliers as int64)."""
    t = quant_input(node, 1, "w" if node.op != "qmatmul" else "b", per_tensor=False)
    w = const_input(node, 1)
    if w is None:
        raise NumbaBackendError(f"node {node.label()}: a weight quantized per group must be a constant")
    return centered(np.asarray(w), t), np.asarray(attrs_of(node)["multiplier"].array, np.int64), t


def _output_requant(node: Node, channels: int) -> tuple:
    """(shift per channel, rounding code, output zero point, lo, hi)."""
    attrs = attrs_of(node)
    out = quant_result(node)
    shift = np.array(np.broadcast_to(np.asarray(attrs["shift"].array, np.int64).reshape(-1), (channels,)))
    lo, hi = attrs["clamp"]
    return shift, ROUNDING_CODES[attrs["rounding"]], zero_point(out), int(lo), int(hi)


def _block_geometry(blocks_in: int, group: int, kh: int, kw: int, taps: int, dh: int, dw: int,
                    plane_h: int, plane_w: int) -> tuple:
    """Per block (input-channel block, ky, kx) and tap: the offset from the conv group's
    first input plane and the positions it can read before leaving its plane (dummy taps:
    offset 0, a whole plane)."""
    plane = plane_h * plane_w
    j, ky, kx = (a.reshape(-1) for a in np.meshgrid(np.arange(blocks_in), np.arange(kh), np.arange(kw),
                                                    indexing="ij"))
    inside = ky * dh * plane_w + kx * dw
    offset = np.zeros((j.size, taps), np.int64)
    room = np.full((j.size, taps), plane, np.int64)
    offset[:, :group] = (j * group * plane + inside)[:, None] + np.arange(group) * plane
    room[:, :group] = (plane - inside)[:, None]
    return offset, room


def prepare_grouped_qconv(node: Node) -> Step:
    attrs = attrs_of(node)
    x_t = quant_input(node, 0, "x")
    wc, m, t = _centred_weight(node)
    if node.op == "qconv1d":  # height 1
        wc, m = wc[:, :, None, :], m[:, :, None, :]
    cout, cin_g, kh, kw = wc.shape
    blocks_in = cin_g // t.group
    taps = -(-t.group // TAPS) * TAPS
    weights = np.zeros((cout, blocks_in * kh * kw, taps), np.int32)
    weights[..., :t.group] = wc.reshape(cout, blocks_in, t.group, kh, kw).transpose(0, 1, 3, 4, 2).reshape(
        cout, -1, t.group)
    block_m = np.ascontiguousarray(m.reshape(cout, -1))
    bias_m = bias_multipliers(m, 0)
    bias_for = bias_source(node, 2, cout)
    shift, mode, y_zp, lo, hi = _output_requant(node, cout)

    def run(args):
        x = args[0]
        b = args[2] if len(args) > 2 else None
        xc, out_hw, stride, dilation = conv_input(node, attrs, x_t, x, (kh, kw))
        offset, room = _block_geometry(blocks_in, t.group, kh, kw, taps, dilation[0], dilation[1], *xc.shape[2:])
        out = np.empty((x.shape[0], cout) + out_hw, storage_dtype(quant_result(node), lo, hi))
        qconv2d_grouped_kernel(xc, weights, offset, room, attrs["groups"], stride[0], stride[1], bias_for(b),
                               block_m, bias_m, shift, y_zp, lo, hi, mode, out)
        return [out[:, :, 0, :] if node.op == "qconv1d" else out]

    return run


def prepare_grouped_product(node: Node) -> Step:
    """qlinear (w: [out, in], blocks along in) or qmatmul with a constant 2-D right operand
    (b: [K, N], blocks along K): rows [N, K] of centred weights, multipliers [N, K / group]."""
    x_t = quant_input(node, 0, "x" if node.op == "qlinear" else "a")
    wc, m, t = _centred_weight(node)
    if node.op == "qmatmul":
        if wc.ndim != 2:
            raise NumbaBackendError(f"node {node.label()}: a per-group right operand of qmatmul must be 2-D, "
                                    f"got shape {list(wc.shape)}")
        wc, m = wc.T, m.T
    rows = np.ascontiguousarray(wc, np.int32)
    block_m = np.ascontiguousarray(m)
    n_out = rows.shape[0]
    bias_m = bias_multipliers(block_m, 0)
    bias_for = bias_source(node, 2, n_out) if node.op == "qlinear" else (lambda b: np.zeros(n_out, np.int32))
    shift, mode, y_zp, lo, hi = _output_requant(node, n_out)

    def run(args):
        x = np.asarray(args[0])
        b = args[2] if len(args) > 2 else None
        xc = storage_int32(x.reshape(1, -1, x.shape[-1])) - np.int32(zero_point(x_t))
        out = np.empty((1, xc.shape[1], n_out), storage_dtype(quant_result(node), lo, hi))
        qproduct_grouped_kernel(xc, rows, t.group, block_m, bias_for(b), bias_m, shift, y_zp, lo, hi, mode, out)
        return [out.reshape(x.shape[:-1] + (n_out,))]

    return run
