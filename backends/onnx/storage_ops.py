"""Pass-through ops on stored integers (lowered graphs): an op that only moves, selects
or takes the maximum of values runs on the uint8 / int8 storage directly when its
quantized operands and results share one parameter set (the lowering arranges that with
requantize). The float emitter writes it, reading storage where it would read reals.
Otherwise the op is left to the float emitters, between DequantizeLinear and
QuantizeLinear."""
from __future__ import annotations

from dataclasses import replace

from qcompiler.ir.types import QuantType, is_float

from .emitters import FLOAT, STORAGE
from .float_tensor import axes_operand

PASS_THROUGH = ("identity", "dropout", "reshape", "flatten", "transpose", "squeeze", "unsqueeze", "expand", "tile",
                "slice", "split", "concat", "gather", "max_pool1d", "max_pool2d", "global_max_pool")


def _params(t: QuantType) -> QuantType:
    return replace(t, shape=())


def shares_params(node) -> bool:
    """Every data operand and result is quantized per tensor with the same parameters."""
    data = [v for v in node.inputs if v is not None and (isinstance(v.type, QuantType) or is_float(v.type))]
    values = data + list(node.outputs)
    if not all(isinstance(v.type, QuantType) and v.type.axis is None for v in values):
        return False
    first = _params(values[0].type)
    return all(_params(v.type) == first for v in values)


class StorageView:
    """The exporter as a float emitter should see it: quantized values read as storage."""

    def __init__(self, ctx):
        self._ctx = ctx

    def __getattr__(self, name):
        return getattr(self._ctx, name)

    def real(self, v):
        return self._ctx.storage(v) if v is not None and isinstance(v.type, QuantType) else self._ctx.real(v)

    def real_as(self, v, dtype: str):
        return self._ctx.storage(v) if isinstance(v.type, QuantType) else self._ctx.real_as(v, dtype)


@STORAGE.register(*PASS_THROUGH)
def pass_through(ctx, node):
    if not shares_params(node):
        return None
    if node.op == "global_max_pool":  # GlobalMaxPool is float-only; ReduceMax takes 8-bit integers
        x = node.inputs[0]
        return [axes_operand(ctx, "ReduceMax", [ctx.storage(x)], list(range(2, x.type.rank)), 18, {"keepdims": 1})]
    return FLOAT.get(node.op)(StorageView(ctx), node)
