"""An embedding whose table quantize stored int8 per row (passes/quantize/embedding.py)
becomes `qembedding`, which dequantizes the rows it picks; a quantized result is then
quantized from those floats, as the float op would have been."""
from __future__ import annotations

from qcompiler.ir.ops.quant_embedding import per_row_table
from qcompiler.ir.ops.infer import plain
from qcompiler.ir.types import is_quantized
from qcompiler.rewrite import Op, Rule


def _per_row_table(m) -> bool:
    return per_row_table(m.root.inputs[1].type)


def _lookup(b, m):
    node = m.root
    out = node.output.type
    rows = b.op("qembedding", list(node.inputs), output_types=[plain(out)])
    return b.op("quantize", [rows], output_types=[out]) if is_quantized(out) else rows


def embedding_rules() -> list:
    return [Rule("qembedding", Op("embedding"), _lookup, condition=_per_row_table)]
