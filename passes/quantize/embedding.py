"""Embedding tables stored int8, one symmetric scale per row (quantize runs this on every
`embedding`, and every `gather` of rows, whose table is a 2-D float constant). A row is one token's vector, so a row
scale follows each token's own magnitude; `lower` turns the lookup into `qembedding`,
which dequantizes only the rows it picks. Tables a layer also reads as a weight (tied
input and output embeddings) are left to that layer's quantization."""
from __future__ import annotations

import numpy as np
from qcompiler.ir.core import Graph
from qcompiler.ir.dense import Dense
from qcompiler.ir.types import QuantType, is_float
from qcompiler.numerics.affine import quantize

from .keep_float import kept_float

EMBEDDING_STORAGE = "i8"


def row_scales(table: np.ndarray) -> np.ndarray:
    """max|row| / 127; an all-zero row takes 1 (it stores zeros whatever its scale)."""
    peak = np.abs(table).max(axis=1)
    return np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)


def lookup_table(node):
    """The table operand of an embedding or a gather of rows, else None."""
    if node.op == "embedding":
        return node.inputs[1]
    if node.op == "gather" and node.attrs.get("axis", 0) == 0:
        return node.inputs[0]
    return None


def quantize_embedding_tables(graph: Graph) -> int:
    """Quantize every eligible table in place; returns how many."""
    count = 0
    for node in graph.nodes:
        table = lookup_table(node)
        if table is None or kept_float(node):
            continue
        array = graph.const_value(table)
        if array is None or array.ndim != 2 or not is_float(table.type) or any(lookup_table(u) is not table
                                                                               for u in table.users):
            continue
        t = QuantType(EMBEDDING_STORAGE, table.type.dtype, table.type.shape, row_scales(array),
                      np.zeros(array.shape[0], np.int32), axis=0)
        table.producer.meta["float_value"] = array
        table.producer.attrs["value"] = Dense(quantize(array, t).astype(np.int8))
        table.type = t
        count += 1
    return count
