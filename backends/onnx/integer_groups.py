"""The `integer` form of group-wise products (qcompiler/ir/ops/quant_group.py).

ONNX has no integer product with a scale per weight block, so every block's int32
partial sum is an output of its own, multiplied by the block's multiplier in int64,
summed over the blocks, and requantized with one rounding shift per output channel:

- conv: one grouped ConvInteger, a group per (conv group, input-channel block), so each
  group reads exactly one block's channels; its output channels are (output channel,
  kernel position) pairs whose kernel is zero except at that position. That costs
  kh·kw times the convolution's MACs (nothing extra for 1x1 kernels).
- linear / matmul: the input as [blocks, rows, group] against the weight as
  [blocks, group, out] in one batched MatMulInteger.
"""
from __future__ import annotations

import numpy as np
import onnx_ir as ir

from qcompiler.ir.ops.quant_common import centered
from qcompiler.ir.ops.quant_group import bias_multipliers

from .float_nn import conv_input, window_attrs
from .integer_arith import INT64, requantize_scaled, storage8, zero_point_input


def _int8_weight(ctx, w) -> np.ndarray:
    """The weight minus its block zero points, which ConvInteger / MatMulInteger take as int8."""
    array = ctx.graph.const_value(w)
    if array is None:
        raise ctx.error(f"the per-group weight %{w.name} is not a constant")
    wc = centered(np.asarray(array), w.type)
    if wc.min(initial=0) < -128 or wc.max(initial=0) > 127:
        raise ctx.error(f"weight %{w.name} minus its per-group zero points does not fit int8 (quantize the weights "
                        "symmetrically)")
    return wc.astype(np.int8)


def _requantized(ctx, node, total: ir.Value, shift: np.ndarray, bias_term) -> ir.Value:
    """Storage of the int64 fixed-point sums `total` (+ the bias term), per-channel `shift`
    already shaped to broadcast; a shift of 63 rounds every sum (|sum| < 2^62) to 0."""
    if bias_term is not None:
        total = ctx.b.op("Add", [total, ctx.b.constant(bias_term)])
    if np.any(shift >= 63):
        total = ctx.b.op("Mul", [total, ctx.b.constant((shift < 63).astype(np.int64))])
    a = node.attrs
    return requantize_scaled(ctx, total, node.output.type, np.minimum(shift, 62), a["rounding"], a.get("clamp"))


def _bias_term(ctx, node, multiplier: np.ndarray, shape: tuple):
    """bias · the channel's largest block multiplier (int64), shaped to broadcast."""
    bias = node.inputs[2] if len(node.inputs) > 2 else None
    if bias is None:
        return None
    values = ctx.graph.const_value(bias)
    if values is None:
        raise ctx.error(f"the bias %{bias.name} is not a constant")
    return (np.asarray(values, np.int64).reshape(-1) * bias_multipliers(multiplier, 0)).reshape(shape)


def grouped_conv(ctx, node) -> ir.Value:
    x, w = node.inputs[:2]
    group, n = w.type.group, w.type.rank - 2
    wc = _int8_weight(ctx, w)
    m = np.asarray(node.attrs["multiplier"].array, np.int64)
    conv_groups = node.attrs.get("groups", 1)
    cout, cin_g, kernel = wc.shape[0], wc.shape[1], list(wc.shape[2:])
    blocks, per_group, positions = cin_g // group, cout // conv_groups, int(np.prod(kernel))
    # [conv group, block, out channel, position, group channel, *kernel], zero off the position
    taps = wc.reshape(conv_groups, per_group, blocks, group, positions).transpose(0, 2, 1, 4, 3)
    expanded = np.zeros(taps.shape[:4] + (group, positions), np.int8)
    at = np.arange(positions)
    expanded[:, :, :, at, :, at] = np.moveaxis(taps, 3, 0)
    weight = ctx.b.initializer(expanded.reshape([-1, group] + kernel), ctx.derived_name(w, "blocks"))
    data, pads = conv_input(ctx, node, storage8(ctx, x), n)
    attrs = {**window_attrs(node, n), "pads": pads, "group": conv_groups * blocks, "kernel_shape": kernel}
    partial = ctx.b.op("ConvInteger", [data, weight, zero_point_input(ctx, x.type)], attrs)
    sums = ctx.b.op("Reshape", [ctx.b.op("Cast", [partial], {"to": INT64}),
                                ctx.b.ints([0, conv_groups, blocks, per_group, positions, -1])])
    block_m = m.reshape(conv_groups, per_group, blocks, positions).transpose(0, 2, 1, 3)[..., None]
    total = ctx.b.op("ReduceSum", [ctx.b.op("Mul", [sums, ctx.b.constant(block_m)]), ctx.b.ints([2, 4])],
                     {"keepdims": 0})  # [N, conv group, out channel, positions]
    shift = np.asarray(node.attrs["shift"].array, np.int64).reshape(-1)
    shift = np.broadcast_to(shift, (cout,)).reshape(conv_groups, per_group, 1)
    y = _requantized(ctx, node, total, shift, _bias_term(ctx, node, m, (conv_groups, per_group, 1)))
    partial_shape = ctx.b.op("Shape", [partial])
    shape = ctx.b.op("Concat", [ctx.b.op("Slice", [partial_shape, ctx.b.ints([0]), ctx.b.ints([1])]),
                                ctx.b.ints([cout]),
                                ctx.b.op("Slice", [partial_shape, ctx.b.ints([2]), ctx.b.ints([2 + n])])],
                     {"axis": 0})
    return ctx.b.op("Reshape", [y, shape])


def grouped_product(ctx, node) -> ir.Value:
    """qlinear (w: [out, in], blocks along in) or qmatmul (b: [K, N], blocks along K)."""
    x, w = node.inputs[:2]
    group = w.type.group
    wc = _int8_weight(ctx, w)
    m = np.asarray(node.attrs["multiplier"].array, np.int64)
    if node.op == "qmatmul":
        if wc.ndim != 2:
            raise ctx.error(f"a per-group right operand of qmatmul must be 2-D, got shape {list(wc.shape)}")
        wc, m = wc.T, m.T
    n_out, k = wc.shape
    blocks = k // group
    weight = ctx.b.initializer(np.ascontiguousarray(wc.reshape(n_out, blocks, group).transpose(1, 2, 0)),
                               ctx.derived_name(w, "blocks"))
    stored = storage8(ctx, x)
    rows = ctx.b.op("Transpose", [ctx.b.op("Reshape", [stored, ctx.b.ints([-1, blocks, group])])], {"perm": [1, 0, 2]})
    partial = ctx.b.op("MatMulInteger", [rows, weight, zero_point_input(ctx, x.type)])  # [blocks, rows, out]
    scaled = ctx.b.op("Mul", [ctx.b.op("Cast", [partial], {"to": INT64}), ctx.b.constant(m.T[:, None, :])])
    total = ctx.b.op("ReduceSum", [scaled, ctx.b.ints([0])], {"keepdims": 0})
    shift = np.broadcast_to(np.asarray(node.attrs["shift"].array, np.int64).reshape(-1), (n_out,))
    y = _requantized(ctx, node, total, np.array(shift), _bias_term(ctx, node, m, (n_out,)))
    leading = ctx.b.op("Slice", [ctx.b.op("Shape", [stored]), ctx.b.ints([0]), ctx.b.ints([-1])])
    return ctx.b.op("Reshape", [y, ctx.b.op("Concat", [leading, ctx.b.ints([n_out])], {"axis": 0})])
