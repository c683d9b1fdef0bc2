"""qembedding on the Numba backend: the picked int8 rows times their row scales."""
from __future__ import annotations

import numba
import numpy as np

from qcompiler.ir.core import Node
from qcompiler.ir.ops.quant_embedding import check_rows

from ..kernels.chunks import chunk_bounds
from .common import Step
from .serial_or_parallel import run_rows

# one output element (a gathered int8 times its row scale) takes about as long as this many
# multiply-adds of the VNNI conv (~160 per ns): 0.1-0.35 ns measured (1024 rows of 384, 128 of 64)
ELEMENT_MACS = 50


@numba.njit(cache=True)
def embedding_rows_kernel(first, last, indices, table, scale, out):
    for i in range(first, last):
        row = indices[i] + table.shape[0] if indices[i] < 0 else indices[i]
        s = scale[row]
        for j in range(table.shape[1]):
            out[i, j] = np.float32(table[row, j]) * s


@numba.njit(cache=True, parallel=True)
def embedding_rows_parallel(chunks, indices, table, scale, out):
    for c in numba.prange(chunks):
        first, last = chunk_bounds(c, chunks, indices.shape[0])
        embedding_rows_kernel(first, last, indices, table, scale, out)


def prepare_qembedding(node: Node) -> Step:
    table_t = node.inputs[1].type
    scale = table_t.scale.array.astype(np.float32).reshape(-1)
    dim = table_t.shape[1]

    def run(args):
        indices, table = np.asarray(args[0]), args[1]
        check_rows(indices, table.shape[0])
        out = np.empty((indices.size, dim), np.float32)
        run_rows(embedding_rows_kernel, embedding_rows_parallel, indices.size, out.size * ELEMENT_MACS,
                 np.ascontiguousarray(indices.reshape(-1), np.int64), table, scale, out)
        return [out.reshape(indices.shape + (dim,))]

    return run
