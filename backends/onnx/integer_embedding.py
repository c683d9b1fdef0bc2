"""qembedding in the integer and qoperator forms: Gather of the int8 table's rows and of
their scales, then one Mul, so the table stays int8 in the file and in memory and only
the rows read are dequantized (a DequantizeLinear of the whole table would run per call)."""
from __future__ import annotations

from qcompiler.ir.types import numpy_dtype

from .builder import onnx_dtype
from .emitters import INTEGER


@INTEGER.register("qembedding")
def qembedding(ctx, node):
    indices, table = node.inputs
    dtype = node.output.type.dtype
    rows = ctx.b.op("Gather", [ctx.storage(table), ctx.real(indices)], {"axis": 0})
    rows = ctx.b.op("Cast", [rows], {"to": onnx_dtype(dtype)})
    scale = table.type.scale.array.reshape(-1, 1).astype(numpy_dtype(dtype))
    scales = ctx.b.initializer(scale, ctx.derived_name(table, "row_scales"))
    return [ctx.b.op("Mul", [rows, ctx.b.op("Gather", [scales, ctx.real(indices)], {"axis": 0})])]
