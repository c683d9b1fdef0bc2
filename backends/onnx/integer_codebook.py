"""qcodebook_conv2d in the exact integer form: the int8 weight is gathered from the codebook
by index at run time, Gather(codebook, Cast(indices)) → [Cout, Cin/g, kh, kw], and feeds
a ConvInteger whose int32 accumulator gets the bias and our requantization, as qconv2d's
does (integer_ops.py). The file stores only the codebook and one index per kernel.
(`codebook="int8"` expands the op into a qconv2d before export instead: backends/onnx/codebook.py.)
"""
from __future__ import annotations

import onnx_ir as ir

from .emitters import INTEGER
from .float_nn import conv_input, window_attrs
from .integer_arith import requantize
from .integer_ops import storage8, with_bias, zero_point_input


@INTEGER.register("qcodebook_conv2d")
def qcodebook_conv2d(ctx, node):
    x, codebook, indices = node.inputs[:3]
    bias = node.inputs[3] if len(node.inputs) > 3 else None
    index = ctx.b.op("Cast", [ctx.real(indices)], {"to": ir.DataType.INT64})
    weight = ctx.b.op("Gather", [storage8(ctx, codebook), index], {"axis": 0})
    data, pads = conv_input(ctx, node, storage8(ctx, x), 2)
    attrs = {**window_attrs(node, 2), "pads": pads, "group": node.attrs.get("groups", 1),
             "kernel_shape": list(codebook.type.shape[1:])}
    acc = ctx.b.op("ConvInteger", [data, weight, zero_point_input(ctx, x.type)], attrs)
    a = node.attrs
    rank = node.output.type.rank
    return [requantize(ctx, with_bias(ctx, acc, bias, rank, 1), node.output.type, a["multiplier"].array,
                       a["shift"].array, a["rounding"], a.get("clamp"), rank=rank, axis=1)]
