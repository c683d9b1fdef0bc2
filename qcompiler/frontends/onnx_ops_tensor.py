"""Converters for ONNX data-movement and shape ops (reshape, slice, split, gather, ...),
constants and casts. Operands that moved from attributes to inputs across opsets are
read from wherever the node's opset puts them."""
from __future__ import annotations

import math

import numpy as np
import onnx_ir as ir

from .onnx_ops import OnnxNode, Unsupported, converter, normalize_axis
from .onnx_types import ONNX_TO_DTYPE


@converter("Constant")
def constant(n: OnnxNode):
    for key in ("value", "value_float", "value_floats", "value_int", "value_ints"):
        if key in n.attrs:
            v = n.attrs[key]
            array = v.array if key == "value" else np.array(v, dtype=np.float32 if "float" in key else np.int64)
            # float constants are weights: keep the ONNX name they had
            origin = n.output_names[0] if array.dtype.kind == "f" else None
            return [n.constant(array, origin=origin, helper=False)]
    raise Unsupported(f"constant attribute {sorted(n.attrs)}")


@converter("Cast")
def cast(n: OnnxNode):
    to = ONNX_TO_DTYPE.get(ir.DataType(n.attr("to")))
    if to is None:
        raise Unsupported(f"cast to {ir.DataType(n.attr('to')).name}")
    return [n.add("cast", [n.input(0)], {"to": to})]


@converter("Shape")
def shape(n: OnnxNode):
    return [n.add("shape", [n.input(0)], {"start": n.attr("start", 0), "end": n.attr("end")})]


@converter("ConstantOfShape")
def constant_of_shape(n: OnnxNode):
    value = n.attr("value")
    array = value.array if value is not None else np.zeros(1, np.float32)
    dtype = ONNX_TO_DTYPE[ir.DataType.from_numpy(array.dtype)]
    # the catalog holds the fill as a float: exact for bools and for ints below 2^53
    value = array.reshape(-1)[0].item()
    if float(value) != value:
        raise Unsupported(f"fill value {value} is not exact as a float")
    return [n.add("constant_of_shape", [n.input(0)], {"value": float(value), "dtype": dtype})]


@converter("Range")
def range_(n: OnnxNode):
    return [n.add("range", n.inputs[:3])]


@converter("CumSum")
def cumsum(n: OnnxNode):
    if n.attr("exclusive", 0) or n.attr("reverse", 0):
        raise Unsupported("exclusive / reverse cumulative sum")
    return [n.add("cumsum", n.inputs[:2])]


@converter("Reshape")
def reshape(n: OnnxNode):
    return [n.add("reshape", [n.input(0), n.input(1)], {"allowzero": bool(n.attr("allowzero", 0))})]


@converter("Expand")
def expand(n: OnnxNode):
    return [n.add("expand", [n.input(0), n.input(1)])]


@converter("Tile")
def tile(n: OnnxNode):
    return [n.add("tile", [n.input(0), n.input(1)])]


@converter("Flatten")
def flatten(n: OnnxNode):
    # ONNX Flatten always gives [prod(dims[:axis]), prod(dims[axis:])]
    x, rank = n.input(0), n.rank()
    axis = n.attr("axis", 1)
    axis = axis + rank if axis < 0 else axis
    if axis in (0, rank):
        shape = [1, -1] if axis == 0 else [-1, 1]
        return [n.add("reshape", [x, n.constant(np.array(shape, dtype=np.int64))])]
    if axis == 1:
        return [n.add("flatten", [x], {"start_dim": 1, "end_dim": -1})]
    tail = n.add("flatten", [x], {"start_dim": axis, "end_dim": -1}, helper=True)
    return [n.add("flatten", [tail], {"start_dim": 0, "end_dim": axis - 1})]


@converter("Transpose")
def transpose(n: OnnxNode):
    perm = n.attr("perm") or list(range(n.rank() - 1, -1, -1))
    return [n.add("transpose", [n.input(0)], {"perm": list(perm)})]


@converter("Concat")
def concat(n: OnnxNode):
    return [n.add("concat", [v for v in n.inputs if v is not None], {"axis": n.attr("axis")})]


@converter("Gather")
def gather(n: OnnxNode):
    return [n.add("gather", [n.input(0), n.input(1)], {"axis": n.attr("axis", 0)})]


@converter("GatherElements")
def gather_elements(n: OnnxNode):
    return [n.add("gather_elements", [n.input(0), n.input(1)], {"axis": n.attr("axis", 0)})]


@converter("GatherND")
def gather_nd(n: OnnxNode):
    if n.attr("batch_dims", 0):
        raise Unsupported(f"batch_dims={n.attr('batch_dims')}")
    return [n.add("gather_nd", [n.input(0), n.input(1)])]


@converter("Split")
def split(n: OnnxNode):
    axis = normalize_axis(n.attr("axis", 0), n.rank(), n.where)
    sizes = n.attr("split") if n.opset < 13 else n.const_ints(1, "split")
    if not sizes:
        count = n.attr("num_outputs", len(n.output_names))
        dim = n.input(0).type.shape[axis]
        if not isinstance(dim, int):
            return _split_at_run_time(n, axis, count)
        chunk = math.ceil(dim / count)
        sizes = [min(chunk, dim - i * chunk) for i in range(count)]
    return n.emit("split", [n.input(0)], {"axis": axis, "sizes": list(sizes)}).outputs


def _split_at_run_time(n: OnnxNode, axis: int, count: int) -> list:
    """Equal pieces of a dynamic axis: piece i is [i*chunk, (i+1)*chunk) with chunk =
    ceil(dim / count) read from the shape; slicing clamps the last (shorter) piece."""
    def ints(values):
        return n.constant(np.array(values, dtype=np.int64))

    dim = n.add("shape", [n.input(0)], {"start": axis, "end": axis + 1}, helper=True)
    chunk = n.add("div", [n.add("add", [dim, ints([count - 1])], helper=True), ints([count])], helper=True)
    bounds = [n.add("mul", [chunk, ints([i])], helper=True) for i in range(count + 1)]
    emitted = [n.emit("dynamic_slice", [n.input(0), bounds[i], bounds[i + 1], ints([axis])]) for i in range(count)]
    for i, node in enumerate(emitted):  # name each piece after its own ONNX output
        if n.output_names[i]:
            n.graph.rename(node.output, n.output_names[i])
    return [node.output for node in emitted]


@converter("Slice")
def slice_(n: OnnxNode):
    if n.opset < 10:
        starts, ends, axes = n.attr("starts"), n.attr("ends"), n.attr("axes")
        steps = None
    elif any(n.input(i) is not None and n.const(i) is None for i in range(1, 5)):
        return [n.add("dynamic_slice", n.inputs[:5])]  # bounds computed at run time (from shapes)
    else:
        starts, ends = n.const_ints(1, "starts"), n.const_ints(2, "ends")
        axes, steps = n.const_ints(3, "axes"), n.const_ints(4, "steps")
    axes = list(axes) if axes else list(range(len(starts)))
    steps = list(steps) if steps else [1] * len(starts)
    return [n.add("slice", [n.input(0)], {"starts": list(starts), "ends": list(ends), "axes": axes, "steps": steps})]


def _axes(n: OnnxNode, attr_until: int):
    """An `axes` list that is an attribute before opset `attr_until` and input 1 after."""
    return n.attr("axes") if n.opset < attr_until else n.const_ints(1, "axes")


@converter("Squeeze")
def squeeze(n: OnnxNode):
    axes = _axes(n, 13)
    if axes is None:
        shape = n.static_shape(0, "squeezing without axes")
        axes = [i for i, d in enumerate(shape) if d == 1]
    return [n.add("squeeze", [n.input(0)], {"axes": list(axes)})]


@converter("Unsqueeze")
def unsqueeze(n: OnnxNode):
    axes = _axes(n, 13)
    if axes is None:
        raise Unsupported("unsqueeze without axes")
    return [n.add("unsqueeze", [n.input(0)], {"axes": list(axes)})]


REDUCE = {"ReduceMean": "reduce_mean", "ReduceSum": "reduce_sum", "ReduceMax": "reduce_max", "ReduceMin": "reduce_min"}


@converter(*REDUCE)
def reduce(n: OnnxNode):
    axes = _axes(n, 13 if n.op_type == "ReduceSum" else 18)
    if not axes and n.attr("noop_with_empty_axes", 0):
        return [n.add("identity", [n.input(0)])]
    attrs = {"axes": list(axes) if axes else None, "keepdims": bool(n.attr("keepdims", 1))}
    return [n.add(REDUCE[n.op_type], [n.input(0)], attrs)]


@converter("ArgMax")
def argmax(n: OnnxNode):
    if n.attr("select_last_index", 0):
        raise Unsupported("select_last_index")
    return [n.add("argmax", [n.input(0)], {"axis": n.attr("axis", 0), "keepdims": bool(n.attr("keepdims", 1))})]
