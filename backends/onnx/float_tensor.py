"""Float emitters for data-movement, shape, reduction and creation ops (the mirror image
of qcompiler/frontends/onnx_ops_tensor.py and onnx_ops_resize.py). Operands that moved
from attributes to inputs across opsets are written where the export opset wants them."""
from __future__ import annotations

import numpy as np
import onnx_ir as ir

from qcompiler.ir.ops.dtypes import promote
from qcompiler.ir.types import QuantType, numpy_dtype

from .builder import onnx_dtype
from .emitters import FLOAT
from .float_math import dtype_of

# opset from which a reduction takes `axes` as an input instead of an attribute
REDUCE = {"reduce_mean": ("ReduceMean", 18), "reduce_sum": ("ReduceSum", 13), "reduce_max": ("ReduceMax", 18),
          "reduce_min": ("ReduceMin", 18)}


def axes_operand(ctx, op: str, inputs: list, axes, since: int, attrs: dict):
    """A node whose `axes` is an input from opset `since` on and an attribute before."""
    if ctx.opset >= since:
        return ctx.b.op(op, inputs + [ctx.b.ints(axes)], attrs)
    return ctx.b.op(op, inputs, {**attrs, "axes": list(axes)})


@FLOAT.register("reshape")
def reshape(ctx, node):
    x, shape = node.inputs
    attrs = {}
    if node.attrs.get("allowzero"):
        if ctx.opset < 14:
            raise ctx.error("reshape with allowzero needs opset >= 14")
        attrs["allowzero"] = 1
    return [ctx.b.op("Reshape", [ctx.real(x), ctx.real(shape)], attrs)]


@FLOAT.register("flatten")
def flatten(ctx, node):
    x = node.inputs[0]
    rank = x.type.rank
    if rank == 0:
        return [ctx.b.op("Reshape", [ctx.real(x), ctx.b.ints([1])])]
    start, end = node.attrs.get("start_dim", 1) % rank, node.attrs.get("end_dim", -1) % rank
    if start == 1 and end == rank - 1:
        return [ctx.b.op("Flatten", [ctx.real(x)], {"axis": 1})]
    # keep the leading dims (0 copies them), merge start..end (-1), keep the trailing ones
    trailing = x.type.shape[end + 1:]
    if all(isinstance(d, int) for d in trailing):
        return [ctx.b.op("Reshape", [ctx.real(x), ctx.b.ints([0] * start + [-1] + list(trailing))])]
    dims = ctx.b.op("Shape", [ctx.real(x)])
    tail = ctx.b.op("Slice", [dims, ctx.b.ints([end + 1]), ctx.b.ints([rank])])
    target = ctx.b.op("Concat", [ctx.b.ints([0] * start + [-1]), tail], {"axis": 0})
    return [ctx.b.op("Reshape", [ctx.real(x), target])]


@FLOAT.register("transpose")
def transpose(ctx, node):
    return [ctx.b.op("Transpose", [ctx.real(node.inputs[0])], {"perm": list(node.attrs["perm"])})]


@FLOAT.register("concat")
def concat(ctx, node):
    out = dtype_of(node.output)
    return [ctx.b.op("Concat", [ctx.real_as(v, out) for v in node.inputs], {"axis": node.attrs["axis"]})]


@FLOAT.register("split")
def split(ctx, node):
    x = ctx.real(node.inputs[0])
    sizes, axis = list(node.attrs["sizes"]), node.attrs.get("axis", 0)
    if len(sizes) == 1:
        return [ctx.b.op("Identity", [x])]
    if ctx.opset >= 13:
        return ctx.b.op("Split", [x, ctx.b.ints(sizes)], {"axis": axis}, outputs=len(sizes))
    return ctx.b.op("Split", [x], {"axis": axis, "split": sizes}, outputs=len(sizes))


@FLOAT.register("slice")
def slice_(ctx, node):
    a = node.attrs
    starts = list(a["starts"])
    axes = a.get("axes") if a.get("axes") is not None else list(range(len(starts)))
    steps = a.get("steps") if a.get("steps") is not None else [1] * len(starts)
    operands = [ctx.b.ints(starts), ctx.b.ints(a["ends"]), ctx.b.ints(axes), ctx.b.ints(steps)]
    return [ctx.b.op("Slice", [ctx.real(node.inputs[0])] + operands)]


@FLOAT.register("gather")
def gather(ctx, node):
    x, indices = node.inputs
    return [ctx.b.op("Gather", [ctx.real(x), ctx.real(indices)], {"axis": node.attrs.get("axis", 0)})]


@FLOAT.register("embedding")
def embedding(ctx, node):
    indices, weight = node.inputs
    return [ctx.b.op("Gather", [ctx.real(weight), ctx.real(indices)], {"axis": 0})]


@FLOAT.register("squeeze", "unsqueeze")
def squeeze(ctx, node):
    op = "Squeeze" if node.op == "squeeze" else "Unsqueeze"
    axes = list(node.attrs["axes"])
    if not axes:
        return [ctx.real(node.inputs[0])]
    return [axes_operand(ctx, op, [ctx.real(node.inputs[0])], axes, 13, {})]


@FLOAT.register("expand", "tile")
def expand(ctx, node):
    op = "Expand" if node.op == "expand" else "Tile"
    x, shape = node.inputs
    return [ctx.b.op(op, [ctx.real(x), ctx.real_as(shape, "i64")])]


@FLOAT.register("pad")
def pad(ctx, node):
    x = node.inputs[0]
    mode = node.attrs.get("mode", "constant")
    value = None
    if mode == "constant":
        value = ctx.b.constant(np.array(node.attrs.get("value", 0.0), numpy_dtype(dtype_of(x))))
    return [ctx.b.op("Pad", [ctx.real(x), ctx.b.ints(node.attrs["pads"]), value], {"mode": mode})]


@FLOAT.register("resize")
def resize(ctx, node):
    x = node.inputs[0]
    sizes = node.inputs[1] if len(node.inputs) > 1 else None
    a = node.attrs
    attrs = {"mode": a.get("mode", "nearest"), "coordinate_transformation_mode": a.get("coord_mode", "half_pixel"),
             "nearest_mode": a.get("nearest_mode", "round_prefer_floor")}
    # opsets 11 and 12 want roi and scales present (empty when unused)
    empty = ctx.b.constant(np.zeros(0, np.float32)) if ctx.opset < 13 else None
    if sizes is None:
        scales = list(a["scales"])
        scales = [1.0, 1.0] + scales if len(scales) == 2 else scales
        return [ctx.b.op("Resize", [ctx.real(x), empty, ctx.b.constant(np.array(scales, np.float32))], attrs)]
    full = ctx.real_as(sizes, "i64")
    if sizes.type.shape[0] == 2:  # H, W only: take N and C from the input
        nc = ctx.b.op("Slice", [ctx.b.op("Shape", [ctx.real(x)]), ctx.b.ints([0]), ctx.b.ints([2])])
        full = ctx.b.op("Concat", [nc, full], {"axis": 0})
    return [ctx.b.op("Resize", [ctx.real(x), empty, empty, full], attrs)]


@FLOAT.register(*REDUCE)
def reduce(ctx, node):
    op, since = REDUCE[node.op]
    axes = node.attrs.get("axes")
    x = ctx.real(node.inputs[0])
    if axes is not None and not list(axes):
        return [x]  # no axes: nothing is reduced (an empty ONNX axes list would reduce all)
    attrs = {"keepdims": int(bool(node.attrs.get("keepdims", True)))}
    if axes is None:
        return [ctx.b.op(op, [x], attrs)]
    return [axes_operand(ctx, op, [x], list(axes), since, attrs)]


@FLOAT.register("argmax")
def argmax(ctx, node):
    attrs = {"axis": node.attrs.get("axis", 0), "keepdims": int(bool(node.attrs.get("keepdims", True)))}
    return [ctx.b.op("ArgMax", [ctx.real(node.inputs[0])], attrs)]


@FLOAT.register("cast")
def cast(ctx, node):
    return [ctx.b.op("Cast", [ctx.real(node.inputs[0])], {"to": onnx_dtype(node.attrs["to"])})]


@FLOAT.register("shape")
def shape(ctx, node):
    start, end = node.attrs.get("start", 0), node.attrs.get("end")
    measured = _measured(node.inputs[0])
    x = ctx.storage(measured) if isinstance(measured.type, QuantType) else ctx.real(measured)
    if ctx.opset >= 15 or (start == 0 and end is None):
        return [ctx.b.op("Shape", [x], {"start": start or None, "end": end})]
    rank = node.inputs[0].type.rank
    bounds = range(rank)[start:end]
    return [ctx.b.op("Slice", [ctx.b.op("Shape", [x]), ctx.b.ints([bounds.start]), ctx.b.ints([bounds.stop])])]


def _measured(v):
    """The value `shape` measures: a quantized value's storage has its shape, so no
    DequantizeLinear runs only to be measured (the builder drops one nobody else reads)."""
    while v.producer is not None and v.producer.op == "dequantize":
        v = v.producer.inputs[0]
    return v


@FLOAT.register("constant_of_shape")
def constant_of_shape(ctx, node):
    dtype = node.attrs.get("dtype", "f32")
    value = ir.tensor(np.array([node.attrs.get("value", 0.0)], numpy_dtype(dtype)), dtype=onnx_dtype(dtype))
    return [ctx.b.op("ConstantOfShape", [ctx.real_as(node.inputs[0], "i64")], {"value": value})]


@FLOAT.register("range")
def range_(ctx, node):
    common = promote(*(dtype_of(v) for v in node.inputs))
    # ONNX wants scalars where the catalog also takes one-element tensors
    scalars = [ctx.real_as(v, common) if v.type.rank == 0 else
               ctx.b.op("Reshape", [ctx.real_as(v, common), ctx.b.ints([])]) for v in node.inputs]
    return [ctx.b.op("Range", scalars)]


@FLOAT.register("cumsum")
def cumsum(ctx, node):
    x, axis = node.inputs
    return [ctx.b.op("CumSum", [ctx.real(x), ctx.real_as(axis, "i64")])]
