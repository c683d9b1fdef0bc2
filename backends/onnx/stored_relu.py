"""A relu between two values of one quantization whose zero point is the storage minimum
(every real value it holds is >= 0, as after an add the quantizer gave the relu's range)
changes no stored value: every form passes the storage through. Spelled as DequantizeLinear
-> Relu -> QuantizeLinear, ONNX Runtime drops the Relu but keeps the DequantizeLinear /
QuantizeLinear pair after its QLinearAdd (two passes over the tensor per residual add)."""
from __future__ import annotations

from dataclasses import replace

from qcompiler.ir.types import QuantType

from .emitters import CONVERSIONS


@CONVERSIONS.register("relu")
def stored_relu(ctx, node):
    (x,) = node.inputs
    t = x.type
    if not (isinstance(t, QuantType) and replace(node.output.type, shape=t.shape) == t
            and t.axis is None and int(t.zero_point.array.item()) == t.qmin):
        return None
    return [ctx.storage(x)]
