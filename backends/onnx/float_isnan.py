"""Float emitter for isnan (ONNX IsNaN, opset 9 on)."""
from __future__ import annotations

from .emitters import FLOAT


@FLOAT.register("isnan")
def isnan(ctx, node):
    if ctx.opset < 9:
        raise ctx.error("isnan needs opset >= 9 (IsNaN); export at a newer opset")
    return [ctx.b.op("IsNaN", [ctx.real(node.inputs[0])])]
