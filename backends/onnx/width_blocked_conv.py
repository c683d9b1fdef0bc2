"""A channels-last 2-D QLinearConv over few input channels reads B neighbouring pixels of
a row as one pixel of B·C channels: a grey-image stem (C = 1, B = 4) and narrow layers
(C ≤ 8: B = 4; C ≤ 16: B = 2).

ONNX Runtime's packed u8×s8 conv (MLAS ConvSym) runs narrow channel counts far below its
speed on wide ones. With one channel it runs im2col and a GEMM of reduction kh·kw (1.19 ms
of the digits ResNet's ~5.9 ms); channels-first, narrow_conv.py unfolds such a conv into
Slices + Concat + a 1×1 conv, but channels-last that Concat interleaves single bytes and
needs a Transpose or byte-wise Pads. And a 3×3 conv over 4, 8 or 16 channels at 28×28
(batch 64, one thread, Intel Xeon with VNNI) took 1.34 / 1.55 / 1.84 ms written plainly,
0.41 / 0.70 / 1.52 ms blocked as here, although blocking multiplies the products
(bench/narrow_conv_blocks.py; bench/RESULTS.md, "Exported int8 on an Intel Xeon with AMX:
narrow convs ..."); at 32 or 64 channels blocking was slower. Here: in NHWC a row of W pixels of C channels [N, H, W, C] is the same bytes
as [N, H, W/B, B·C], W/B blocks of B·C channels. A conv over blocks whose output channel
j·O + o is output channel o at pixel B·b + j (weights placed at the block and lane of each
tap, the weight zero point elsewhere) writes [N, H, W/B, B·O], the same bytes as
[N, H, W, O]: two Reshapes, no copy. The integer sums are the original ones, the extra
products being by a zero weight.
"""
from __future__ import annotations

import numpy as np
import onnx_ir as ir

from qcompiler.ir.ops.spatial import ints_attr, pads_attr

from .graph_additions import GraphAdditions

WIDEST_BLOCK = 32  # input channels B·C up to which a block of B pixels is read as one pixel
WIDEST_BLOCKED_OUTPUT = 64  # output channels B·O up to which a conv is blocked
LONGEST_BLOCKED_KERNEL = 16  # kh·kw up to which a conv is blocked (as narrow_conv unfolds a stem)
LEFT_WHOLE = "convs left whole for width blocking"  # the exporter's cache key


def block_width(channels: int, out_channels: int, groups: int, kernel: tuple, strides: tuple,
                dilations: tuple, pads: tuple, width) -> int:
    """The pixels B per block of a conv of these parameters (pads: top, left, bottom, right)
    over a map of `width` pixels, 0 if it is not blocked: 4 for one input channel, else the
    widest of 4 and 2 with B·C ≤ WIDEST_BLOCK and B·O ≤ WIDEST_BLOCKED_OUTPUT; in all cases
    stride and dilation 1, the width kept ('same' padding) and a known width that B divides."""
    kh, kw = kernel
    if not (groups == 1 and tuple(strides) == (1, 1) and tuple(dilations) == (1, 1)
            and pads[1] + pads[3] == kw - 1 and kh * kw <= LONGEST_BLOCKED_KERNEL and isinstance(width, int)):
        return 0
    if channels == 1:  # a grey stem: 4 pixels as 4 channels, the smallest group ORT's kernel packs
        return 4 if width % 4 == 0 else 0
    fitting = [b for b in (4, 2) if b * channels <= WIDEST_BLOCK and b * out_channels <= WIDEST_BLOCKED_OUTPUT
               and width % b == 0]
    return fitting[0] if fitting else 0


def blocked_weights(w: np.ndarray, zero_point: np.ndarray, left: int, block: int) -> tuple:
    """([B·O, B·C, kh, kb] weights, the block padding (left, right)) for weights `w`
    [O, C, kh, kw] with `left` pixels of padding on the left and the rest on the right,
    read over blocks of B = `block` pixels."""
    out_channels, channels, kh, kw = w.shape
    first = (0 - left) // block                      # block of the leftmost pixel lane 0 reads
    last = (block - 1 + kw - 1 - left) // block      # block of the rightmost pixel the last lane reads
    zero = np.broadcast_to(np.asarray(zero_point, w.dtype).reshape(-1), (out_channels,))
    blocked = np.empty((block, out_channels, block, channels, kh, last - first + 1), w.dtype)
    blocked[...] = zero[None, :, None, None, None, None]
    for lane in range(block):
        for kx in range(kw):
            position, channel_lane = divmod(lane + kx - left, block)
            blocked[lane, :, channel_lane, :, :, position - first] = w[:, :, :, kx]
    return blocked.reshape(block * out_channels, block * channels, kh, last - first + 1), (-first, last)


def tiled(value: np.ndarray, block: int) -> np.ndarray:
    """A per-output-channel array repeated for the `block` lanes."""
    return np.tile(value.reshape(-1), block)


def left_whole(ctx, node) -> bool:
    """Whether the qoperator export writes quantized 2-D conv `node` as one QLinearConv
    for the channels-last rewrite to block (instead of unfolding it, narrow_conv.py): the
    export may go channels-last and `block_width` blocks it. Recorded in `ctx.cache`, so a
    channels-first result can be exported again with the unfolding."""
    x, w = node.inputs[:2]
    if ctx.channels_last is False or node.op != "qconv2d" or node.attrs.get("pad_mode", "zeros") != "zeros":
        return False
    where = node.label()
    (top, left), (bottom, right) = pads_attr(node.attrs.get("pad"), 2, where)
    whole = block_width(w.type.shape[1], w.type.shape[0], node.attrs.get("groups", 1), tuple(w.type.shape[2:]),
                        ints_attr(node.attrs.get("stride"), 2, 1, "stride", where, 1),
                        ints_attr(node.attrs.get("dilation"), 2, 1, "dilation", where, 1),
                        (top, left, bottom, right), x.type.shape[3]) > 0
    if whole:
        ctx.cache[LEFT_WHOLE] = True
    return whole


def onnx_conv_block(node: ir.Node, x_shape) -> int:
    """The pixels per block of QLinearConv `node` over channels-first `x_shape` (see
    `block_width`; 0: not blocked), which needs its weights, scales, zero points and bias
    as initializers."""
    constants = [v for v in node.inputs[3:] if v is not None]
    if x_shape is None or len(x_shape) != 4 or any(v.const_value is None for v in constants):
        return 0
    w_shape = node.inputs[3].shape
    a = node.attributes
    return block_width(w_shape[1], w_shape[0], a.get_int("group", 1), tuple(w_shape[2:]),
                       a.get_ints("strides", [1, 1]), a.get_ints("dilations", [1, 1]),
                       a.get_ints("pads", [0, 0, 0, 0]), x_shape[3])


def width_block(node: ir.Node, x_shape: tuple, block: int, names: GraphAdditions) -> list:
    """Rewrite channels-last QLinearConv `node` over [N, H, W, C] (channels-first shape
    `x_shape`) to read blocks of `block` pixels as the module says, in place; returns the two
    Reshapes it adds around it. `names` makes its initializers and node names."""
    inputs = list(node.inputs)
    w = np.asarray(inputs[3].const_value.numpy())
    out_channels, channels, kh, kw = w.shape
    top, left, bottom, right = node.attributes.get_ints("pads", [0, 0, 0, 0])
    weight_zero = np.asarray(inputs[5].const_value.numpy()) if len(inputs) > 5 and inputs[5] is not None else 0
    weights, (pad_left, pad_right) = blocked_weights(w, weight_zero, left, block)
    replacements = {3: weights}
    for position in (4, 5, 8):  # weight scale and zero point per channel (not per tensor), bias
        if len(inputs) <= position or inputs[position] is None:
            continue
        array = np.asarray(inputs[position].const_value.numpy())
        if array.size > 1 or position == 8:
            replacements[position] = tiled(array, block)
    for position, array in replacements.items():
        node.replace_input_with(position, names.array(array, f"{inputs[position].name}:width_blocked"))
    node.attributes["kernel_shape"] = ir.AttrInt64s("kernel_shape", [kh, weights.shape[3]])
    node.attributes["pads"] = ir.AttrInt64s("pads", [top, pad_left, bottom, pad_right])
    width = x_shape[3]
    blocked_in = ir.Node("", "Reshape", [inputs[0], names.ints([0, -1, width // block, block * channels],
                                                              "width_blocks")])
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
