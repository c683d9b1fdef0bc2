"""Float emitter for masked_softmax: Where(keep, 0, fill), Add and Softmax, all in float
around whatever quantized matmuls feed and read it; the mask never becomes a
quantized tensor (qcompiler/ir/ops/masked_softmax.py).

zero_empty_rows: a row where nothing is kept gives probability 0. On dequantized
scores (finite, so a row is empty exactly when its mask is) the mask decides it: the
rows' "any kept" flag is reduced from the mask (per batch, not per head), empty rows
add 0 instead of -inf (a finite softmax) and the result is multiplied by the flag — one
broadcast Mul on the scores where Where(IsNaN(p), 0, p) takes two passes and a bool
tensor (1.8 of 46 ms per batch of the 6-layer BERT in bench/bert_w8a8.py). Float scores
may hold -inf themselves, so they keep the IsNaN form."""
from __future__ import annotations

import numpy as np

from qcompiler.ir.ops.infer import plain
from qcompiler.ir.types import QuantType, numpy_dtype

from .builder import onnx_dtype
from .emitters import FLOAT
from .errors import OnnxExportError
from .float_tensor import axes_operand


@FLOAT.register("masked_softmax")
def masked_softmax(ctx, node):
    x, keep = node.inputs
    rank = node.output.type.rank
    axis = node.attrs.get("axis", -1) % rank
    if ctx.opset < 13 and axis != rank - 1:
        raise OnnxExportError(f"node {node.label()}: masked_softmax over axis {axis} of {rank} needs opset 13 "
                              f"(before it Softmax normalizes every dim from the axis on); export at opset >= 13")
    float_dtype = plain(node.output.type).dtype
    dtype = numpy_dtype(float_dtype)
    zero, fill = ctx.b.constant(np.zeros((), dtype)), ctx.b.constant(np.array(node.attrs.get("fill", -np.inf), dtype))
    empty_rows = node.attrs.get("zero_empty_rows", False)
    finite = _dequantized(x)
    if empty_rows and finite:
        kept = _rows_kept(ctx, keep, axis - rank, float_dtype)
        fill = ctx.b.op("Where", [ctx.b.op("Cast", [kept], {"to": onnx_dtype("bool")}), fill, zero])
    mask = ctx.b.op("Where", [ctx.real(keep), zero, fill])
    p = ctx.b.op("Softmax", [ctx.b.op("Add", [ctx.real(x), mask])], {"axis": axis})
    if not empty_rows:
        return [p]
    if finite:
        return [ctx.b.op("Mul", [p, kept])]
    # fill is -inf here (the verifier's rule): a row where nothing is kept is exactly a NaN row
    return [ctx.b.op("Where", [ctx.b.op("IsNaN", [p]), zero, p])]


def _dequantized(x) -> bool:
    """`x` holds finite values: quantized, or the float result of a dequantize."""
    return isinstance(x.type, QuantType) or (x.producer is not None and x.producer.op == "dequantize")


def _rows_kept(ctx, keep, axis: int, dtype: str):
    """1 where a row of the mask keeps anything, else 0, in `dtype` (`axis` < 0; a mask
    without that axis broadcasts along it, so its rows are its own entries)."""
    flags = ctx.b.op("Cast", [ctx.real(keep)], {"to": onnx_dtype(dtype)})
    if keep.type.rank < -axis:
        return flags
    return axes_operand(ctx, "ReduceMax", [flags], [axis], 18, {"keepdims": 1})
