"""Pads known only at run time, as ONNX Pad nodes.

same_pad: the SAME pads computed from the run-time shape (Shape, integer arithmetic),
so a dynamic dim keeps getting ceil(size / stride) windows; written with ops every
exported opset has on int64 (Less / Where, not Max). In a lowered graph whose operand
and result share parameters it pads the stored integers, the zero point for real zeros.
dynamic_pad: its pads operand as Pad's."""
from __future__ import annotations

import numpy as np

from qcompiler.ir.ops.same_pad import window_geometry
from qcompiler.ir.types import numpy_dtype

from .conversions import held_as
from .emitters import FLOAT, STORAGE
from .float_math import dtype_of
from .storage_ops import shares_params


def same_pads(ctx, x, rank: int, kernel, stride, dilation, lower: bool):
    """The int64 [2 * rank] pads (ONNX order) SAME_* gives the window over `x`'s run-time size."""
    b = ctx.b
    spatial = list(range(2, rank))
    sizes = b.op("Gather", [b.op("Shape", [x]), b.ints(spatial)], {"axis": 0})
    strides = b.ints(stride)
    windows = b.op("Div", [b.op("Add", [sizes, b.ints([s - 1 for s in stride])]), strides])  # ceil(size / s)
    # the last window ends at (windows - 1) * s + span
    reach = b.op("Add", [b.op("Mul", [windows, strides]),
                         b.ints([(k - 1) * d + 1 - s for k, d, s in zip(kernel, dilation, stride)])])
    total = b.op("Sub", [reach, sizes])
    zero = b.ints([0] * len(spatial))
    total = b.op("Where", [b.op("Less", [total, zero]), zero, total])
    small = b.op("Div", [total, b.ints([2] * len(spatial))])
    big = b.op("Sub", [total, small])
    begin, end = (big, small) if lower else (small, big)
    return b.op("Concat", [b.ints([0, 0]), begin, b.ints([0, 0]), end], {"axis": 0})


def emit_same_pad(ctx, node, x, value):
    """`x` padded as `node` pads, `value` (an ONNX scalar of x's type) filling constant pads."""
    a = node.attrs
    rank = node.inputs[0].type.rank
    kernel, stride, dilation = window_geometry(rank, a, f"node {node.label()}")
    pads = same_pads(ctx, x, rank, kernel, stride, dilation, a.get("lower", False))
    if a.get("mode", "constant") == "edge":
        return ctx.b.op("Pad", [x, pads], {"mode": "edge"})
    return ctx.b.op("Pad", [x, pads, value], {"mode": "constant"})


@FLOAT.register("same_pad")
def same_pad(ctx, node):
    x = node.inputs[0]
    zero = ctx.b.constant(np.zeros((), numpy_dtype(dtype_of(x))))
    return [emit_same_pad(ctx, node, ctx.real(x), zero)]


@STORAGE.register("same_pad")
def same_pad_storage(ctx, node):
    if not shares_params(node):
        return None
    x = node.inputs[0]
    stored = ctx.storage(x)
    zero_point = np.asarray(x.type.zero_point.array).reshape(()).astype(held_as(stored, x.type).numpy())
    return [emit_same_pad(ctx, node, stored, ctx.b.constant(zero_point))]


@FLOAT.register("dynamic_pad")
def dynamic_pad(ctx, node):
    x, pads = node.inputs
    a = node.attrs
    mode = a.get("mode", "constant")
    value = ctx.b.constant(np.array(a.get("value", 0.0), numpy_dtype(dtype_of(x)))) if mode == "constant" else None
    return [ctx.b.op("Pad", [ctx.real(x), ctx.real_as(pads, "i64"), value], {"mode": mode})]
