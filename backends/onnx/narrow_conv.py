"""A quantized 2-D convolution over fewer than 4 input channels with at most 16 products
per output (a 3×3 stem over grey images) is unfolded in the graph into a 1×1 convolution
over its taps, in the qdq and qoperator forms alike.

ONNX Runtime's fast u8×s8 convolution (MLAS ConvSym) packs input channels in fours;
with fewer it takes im2col and a GEMM, which a reduction of 9 leaves mostly idle: on the
digits ResNet's stem (1 -> 16 channels, 3×3, batch 64 at 28×28) its QLinearConv took
1.19 ms. Here the stored input is padded with its zero point, each tap is a strided
Slice, the taps are concatenated as channels (padded with the zero point to a multiple
of 4) and a 1×1 conv with the weights reordered to match reads them: 0.16 ms for the
conv and ~0.3 ms for the pads, slices, concat and ORT's transpose to NHWC (bench/RESULTS.md,
"Exported int8 vs onnxruntime fp32 ..."). A float Conv on the dequantized input took
~0.6 ms with the reorder, quantize and transposes around it.

The products and their sum are unchanged (a padded channel holds the zero point, so it
adds nothing), so the results equal those of the conv it replaces.
"""
from __future__ import annotations

import numpy as np

from qcompiler.ir.ops.spatial import ints_attr, pads_attr
from qcompiler.ir.types import QuantType

from .conversions import CONTAINERS

FEWEST_PACKED_CHANNELS = 4  # input channels per group that ORT's u8×s8 conv kernel packs
LONGEST_UNFOLDED_REDUCTION = 16  # products per output (one Slice per tap) up to which it unfolds


def unfolds(ctx, node) -> bool:
    """Whether 2-D conv `node` (conv2d or qconv2d) reads a per-tensor quantized input with
    fewer than FEWEST_PACKED_CHANNELS channels, zero padding and constant, ungrouped
    weights of at most LONGEST_UNFOLDED_REDUCTION products per output."""
    x, w = node.inputs[:2]
    return (node.op in ("conv2d", "qconv2d") and node.attrs.get("groups", 1) == 1
            and node.attrs.get("pad_mode", "zeros") == "zeros" and w.type.shape[1] < FEWEST_PACKED_CHANNELS
            and int(np.prod(w.type.shape[1:])) <= LONGEST_UNFOLDED_REDUCTION
            and isinstance(x.type, QuantType) and x.type.axis is None
            and isinstance(w.type, QuantType) and w.type.group is None and ctx.graph.const_value(w) is not None)


def unfolded_operands(ctx, node) -> tuple:
    """(the taps of x's storage as channels [N, T, Ho, Wo], the 1×1 weights' storage
    [O, T, 1, 1], quantized like w: per tensor or per output channel) for `node` (see
    unfolds); T = taps × input channels rounded up to 4."""
    x, w = node.inputs[:2]
    out_channels, channels, kh, kw = w.type.shape
    where = node.label()
    (top, left), (bottom, right) = pads_attr(node.attrs.get("pad"), 2, where)
    strides = ints_attr(node.attrs.get("stride"), 2, 1, "stride", where, 1)
    dilations = ints_attr(node.attrs.get("dilation"), 2, 1, "dilation", where, 1)
    zero_point = ctx.b.constant(x.type.zero_point.array.reshape(()).astype(CONTAINERS[x.type.storage].numpy()))
    data = ctx.storage(x)
    if any((top, left, bottom, right)):
        data = ctx.b.op("Pad", [data, ctx.b.ints([0, 0, top, left, 0, 0, bottom, right]), zero_point])
    taps = []
    for ky in range(kh):
        for kx in range(kw):
            # from the tap's offset to as far before the end as the last tap reaches beyond it
            starts = [ky * dilations[0], kx * dilations[1]]
            ends = [-(kh - 1 - ky) * dilations[0] or np.iinfo(np.int64).max,
                    -(kw - 1 - kx) * dilations[1] or np.iinfo(np.int64).max]
            taps.append(ctx.b.op("Slice", [data, ctx.b.ints(starts), ctx.b.ints(ends), ctx.b.ints([2, 3]),
                                           ctx.b.ints(list(strides))]))
    unfolded = ctx.b.op("Concat", taps, {"axis": 1})
    width = kh * kw * channels
    padded_width = -(-width // FEWEST_PACKED_CHANNELS) * FEWEST_PACKED_CHANNELS
    if padded_width > width:
        unfolded = ctx.b.op("Pad", [unfolded, ctx.b.ints([0, 0, 0, 0, 0, padded_width - width, 0, 0]), zero_point])
    # channel t·C + c of the unfolded input is input channel c at tap t = ky·kw + kx
    weights = np.asarray(ctx.graph.const_value(w)).transpose(0, 2, 3, 1).reshape(out_channels, width)
    weights = np.concatenate([weights, np.zeros((out_channels, padded_width - width), weights.dtype)], axis=1)
    return unfolded, weights.reshape(out_channels, padded_width, 1, 1)

