"""qembedding: an embedding lookup from a table stored as integers with one scale per row
(symmetric: zero points 0). Only the picked rows are dequantized, so a 30k-row
vocabulary costs its int8 bytes and a lookup costs the rows it reads."""
from __future__ import annotations

import numpy as np

from ..errors import VerifyError
from ..registry import op
from ..types import QuantType, TensorType, numpy_dtype
from .dtypes import require_int
from .infer import plain
from .quant_common import fmt_type


def per_row_table(t) -> bool:
    return (isinstance(t, QuantType) and t.rank == 2 and t.axis == 0 and t.group is None
            and not np.any(t.zero_point.array))


def _qembedding_type(types, attrs, consts):
    idx, table = plain(types[0]), types[1]
    require_int(idx, "indices", "qembedding")
    if not per_row_table(table):
        raise VerifyError(f"qembedding: table must be a 2-D quantized tensor with one scale per row (axis 0) "
                          f"and zero points 0, got {fmt_type(table)}")
    return [TensorType(table.expressed, idx.shape + table.shape[1:])]


def check_rows(indices: np.ndarray, rows: int) -> None:
    """Gather's rule (and the float embedding's): an index names a row, a negative one
    counting from the end."""
    if indices.size and (indices.min() < -rows or indices.max() >= rows):
        raise IndexError(f"qembedding: indices in [{indices.min()}, {indices.max()}] are outside the table's "
                         f"{rows} rows")


@op("qembedding", inputs=["indices", "table"], infer=_qembedding_type, integer=True)
def qembedding(indices, table, *, in_types, out_types):
    """table[indices] · scale[indices], in the result's float type (a negative index counts from the end)."""
    check_rows(indices, table.shape[0])
    scale = in_types[1].scale.array
    rows = table[indices].astype(np.float32)
    return (rows * scale[indices][..., None]).astype(numpy_dtype(out_types[0].dtype), copy=False)
