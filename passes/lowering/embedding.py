"""An embedding (or a gather of rows, ONNX's spelling) whose table quantize stored int8 per
row (passes/quantize/embedding.py) becomes `qembedding`, which dequantizes the rows it picks; a quantized result is then
quantized from those floats, as the float op would have been."""
from __future__ import annotations

from qcompiler.ir.ops.quant_embedding import per_row_table
from qcompiler.ir.ops.infer import plain
from qcompiler.ir.types import is_quantized
from qcompiler.rewrite import Op, Rule


def _operands(node) -> list:
    """[indices, table] of an embedding or of a row gather."""
    return list(node.inputs) if node.op == "embedding" else [node.inputs[1], node.inputs[0]]


def _per_row_table(m) -> bool:
    node = m.root
    return (node.op == "embedding" or node.attrs.get("axis", 0) == 0) and per_row_table(_operands(node)[1].type)


def _lookup(b, m):
    node = m.root
    out = node.output.type
    rows = b.op("qembedding", _operands(node), output_types=[plain(out)])
    return b.op("quantize", [rows], output_types=[out]) if is_quantized(out) else rows


def embedding_rules() -> list:
    return [Rule("qembedding", Op(("embedding", "gather")), _lookup, condition=_per_row_table)]
