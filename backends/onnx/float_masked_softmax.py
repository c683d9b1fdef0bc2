"""Float emitter for masked_softmax: Where(keep, 0, fill), Add and Softmax, all in float
around whatever quantized matmuls feed and read it; the mask never becomes a
quantized tensor (qcompiler/ir/ops/masked_softmax.py)."""
from __future__ import annotations

import numpy as np

from qcompiler.ir.ops.infer import plain
from qcompiler.ir.types import numpy_dtype

from .emitters import FLOAT
from .errors import OnnxExportError


@FLOAT.register("masked_softmax")
def masked_softmax(ctx, node):
    x, keep = node.inputs
    rank = node.output.type.rank
    axis = node.attrs.get("axis", -1) % rank
    if ctx.opset < 13 and axis != rank - 1:
        raise OnnxExportError(f"node {node.label()}: masked_softmax over axis {axis} of {rank} needs opset 13 "
                              f"(before it Softmax normalizes every dim from the axis on); export at opset >= 13")
    dtype = numpy_dtype(plain(node.output.type).dtype)
    mask = ctx.b.op("Where", [ctx.real(keep), ctx.b.constant(np.zeros((), dtype)),
                              ctx.b.constant(np.array(node.attrs.get("fill", -np.inf), dtype))])
    p = ctx.b.op("Softmax", [ctx.b.op("Add", [ctx.real(x), mask])], {"axis": axis})
    if not node.attrs.get("zero_empty_rows", False):
        return [p]
    # fill is -inf here (the verifier's rule): a row where nothing is kept is exactly a NaN row
    return [ctx.b.op("Where", [ctx.b.op("IsNaN", [p]), ctx.b.constant(np.zeros((), dtype)), p])]
