"""A channels-last 2-D QLinearConv over one input channel (a grey-image stem) reads four
neighbouring pixels of a row as its four input channels.

ONNX Runtime's packed u8×s8 conv takes input channels in fours; with one it runs im2col
and a GEMM of reduction kh·kw (1.19 ms of the digits ResNet's ~5.9 ms). Channels-first,
narrow_conv.py unfolds such a conv into Slices + Concat + a 1×1 conv, but channels-last
that Concat interleaves single bytes and needs a Transpose or byte-wise Pads. Here
instead: in NHWC a row of W one-channel pixels [N, H, W, 1] is the same bytes as
[N, H, W/4, 4], W/4 blocks of 4 channels. A conv over blocks whose output channel
j·O + o is output channel o at pixel 4b + j (weights placed at the block and lane of
each tap, the weight zero point elsewhere) writes [N, H, W/4, 4·O], the same bytes as
[N, H, W, O]: two Reshapes, no copy. It does 4× the stem's products (a 3×3 kernel
reaches 3 blocks) in the packed kernel; the integer sums are the original ones, the
extra products being by a zero weight.
"""
from __future__ import annotations

import numpy as np
import onnx_ir as ir

from qcompiler.ir.ops.spatial import ints_attr, pads_attr

from .graph_additions import GraphAdditions

BLOCK = 4  # input channels ONNX Runtime's u8×s8 conv kernel packs together
LONGEST_BLOCKED_KERNEL = 16  # kh·kw up to which the stem is blocked (as narrow_conv unfolds it)
LEFT_WHOLE = "convs left whole for width blocking"  # the exporter's cache key


def blocks(channels: int, groups: int, kernel: tuple, strides: tuple, dilations: tuple, pads: tuple,
           width) -> bool:
    """Whether a conv of these parameters (pads: top, left, bottom, right) over a map of
    `width` pixels is written width-blocked: one input channel, stride and dilation 1,
    the width kept ('same' padding) and a known width that is a multiple of BLOCK."""
    kh, kw = kernel
    return (channels == 1 and groups == 1 and tuple(strides) == (1, 1) and tuple(dilations) == (1, 1)
            and pads[1] + pads[3] == kw - 1 and kh * kw <= LONGEST_BLOCKED_KERNEL
            and isinstance(width, int) and width % BLOCK == 0)


def blocked_weights(w: np.ndarray, zero_point: np.ndarray, left: int) -> tuple:
    """([BLOCK·O, BLOCK, kh, kb] weights, the block padding (left, right)) for weights
    `w` [O, 1, kh, kw] with `left` pixels of padding on the left and the rest on the right."""
    out_channels, _, kh, kw = w.shape
    first = (0 - left) // BLOCK                      # block of the leftmost pixel lane 0 reads
    last = (BLOCK - 1 + kw - 1 - left) // BLOCK      # block of the rightmost pixel lane 3 reads
    zero = np.broadcast_to(np.asarray(zero_point, w.dtype).reshape(-1), (out_channels,))
    blocked = np.empty((BLOCK, out_channels, BLOCK, kh, last - first + 1), w.dtype)
    blocked[...] = zero[None, :, None, None, None]
    for lane in range(BLOCK):
        for kx in range(kw):
            block, channel = divmod(lane + kx - left, BLOCK)
            blocked[lane, :, channel, :, block - first] = w[:, 0, :, kx]
    return blocked.reshape(BLOCK * out_channels, BLOCK, kh, last - first + 1), (-first, last)


def tiled(value: np.ndarray) -> np.ndarray:
    """A per-output-channel array repeated for the BLOCK lanes."""
    return np.tile(value.reshape(-1), BLOCK)


def left_whole(ctx, node) -> bool:
    """Whether the qoperator export writes quantized 2-D conv `node` as one QLinearConv
    for the channels-last rewrite to block (instead of unfolding it, narrow_conv.py): the
    export may go channels-last and `blocks` holds. Recorded in `ctx.cache`, so a
    channels-first result can be exported again with the unfolding."""
    x, w = node.inputs[:2]
    if ctx.channels_last is False or node.op != "qconv2d" or node.attrs.get("pad_mode", "zeros") != "zeros":
        return False
    where = node.label()
    (top, left), (bottom, right) = pads_attr(node.attrs.get("pad"), 2, where)
    whole = blocks(w.type.shape[1], node.attrs.get("groups", 1), tuple(w.type.shape[2:]),
                   ints_attr(node.attrs.get("stride"), 2, 1, "stride", where, 1),
                   ints_attr(node.attrs.get("dilation"), 2, 1, "dilation", where, 1), (top, left, bottom, right),
                   x.type.shape[3])
    if whole:
        ctx.cache[LEFT_WHOLE] = True
    return whole


def onnx_conv_blocks(node: ir.Node, x_shape) -> bool:
    """Whether QLinearConv `node` over channels-first `x_shape` is width-blocked: `blocks`,
    with its weights, scales, zero points and bias as initializers."""
    constants = [v for v in node.inputs[3:] if v is not None]
    if x_shape is None or len(x_shape) != 4 or any(v.const_value is None for v in constants):
        return False
    w_shape = node.inputs[3].shape
    a = node.attributes
    return blocks(w_shape[1], a.get_int("group", 1), tuple(w_shape[2:]), a.get_ints("strides", [1, 1]),
                  a.get_ints("dilations", [1, 1]), a.get_ints("pads", [0, 0, 0, 0]), x_shape[3])


def width_block(node: ir.Node, x_shape: tuple, names: GraphAdditions) -> list:
    """Rewrite channels-last QLinearConv `node` over [N, H, W, 1] (channels-first shape
    `x_shape`) as the module says, in place; returns the two Reshapes it adds around it.
    `names` makes its initializers and node names."""
    inputs = list(node.inputs)
    w = np.asarray(inputs[3].const_value.numpy())
    out_channels, _, kh, kw = w.shape
    top, left, bottom, right = node.attributes.get_ints("pads", [0, 0, 0, 0])
    weight_zero = np.asarray(inputs[5].const_value.numpy()) if len(inputs) > 5 and inputs[5] is not None else 0
    weights, (pad_left, pad_right) = blocked_weights(w, weight_zero, left)
    replacements = {3: weights}
    for position in (4, 5, 8):  # weight scale and zero point per channel (not per tensor), bias
        if len(inputs) <= position or inputs[position] is None:
            continue
        array = np.asarray(inputs[position].const_value.numpy())
        if array.size > 1 or position == 8:
            replacements[position] = tiled(array)
    for position, array in replacements.items():
        node.replace_input_with(position, names.array(array, f"{inputs[position].name}:width_blocked"))
    node.attributes["kernel_shape"] = ir.AttrInt64s("kernel_shape", [kh, weights.shape[3]])
    node.attributes["pads"] = ir.AttrInt64s("pads", [top, pad_left, bottom, pad_right])
    width = x_shape[3]
    blocked_in = ir.Node("", "Reshape", [inputs[0], names.ints([0, -1, width // BLOCK, BLOCK], "width_blocks")])
    node.replace_input_with(0, blocked_in.outputs[0])
    result = node.outputs[0]
    readers = list(result.uses())
    unblocked = ir.Node("", "Reshape", [result, names.ints([0, -1, width, out_channels], "width_unblocked")])
    for reader, i in readers:
        reader.replace_input_with(i, unblocked.outputs[0])
    for added, what in ((blocked_in, "blocks"), (unblocked, "unblocked")):
        added.name = added.outputs[0].name = names.fresh(f"{node.name}:{what}")
        node.graph.append(added)
    return [blocked_in, unblocked]
