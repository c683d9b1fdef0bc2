"""qembedding on the Numba backend: the picked int8 rows times their row scales."""
from __future__ import annotations

import numba
import numpy as np

from qcompiler.ir.core import Node
from qcompiler.ir.ops.quant_embedding import check_rows

from .common import Step


@numba.njit(cache=True, parallel=True)
def embedding_rows_kernel(indices, table, scale, out):
    for i in numba.prange(indices.shape[0]):
        row = indices[i] + table.shape[0] if indices[i] < 0 else indices[i]
        s = scale[row]
        for j in range(table.shape[1]):
            out[i, j] = np.float32(table[row, j]) * s


def prepare_qembedding(node: Node) -> Step:
    table_t = node.inputs[1].type
    scale = table_t.scale.array.astype(np.float32).reshape(-1)
    dim = table_t.shape[1]

    def run(args):
        indices, table = np.asarray(args[0]), args[1]
        check_rows(indices, table.shape[0])
        out = np.empty((indices.size, dim), np.float32)
        embedding_rows_kernel(np.ascontiguousarray(indices.reshape(-1), np.int64), table, scale, out)
        return [out.reshape(indices.shape + (dim,))]

    return run
