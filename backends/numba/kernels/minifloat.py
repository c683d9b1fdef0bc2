"""Minifloat matrix product: out[i, j] = Σ_k table_x[x[i, k]] · w[j, k], in float64.

Step 1 of numerics/minifloat_products.py, compiled: the activation codes are decoded
through the format's table inside the loop, the weight rows arrive decoded (once, when
the node is prepared). Each accumulator sums k in index order (no fastmath, so LLVM
neither reorders nor fuses), exactly as the rule's numpy statement `ordered_product`
does, so the two agree bit for bit; within the bound stated there the sum is also exact.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def minifloat_product(x_codes, table, w_values):
    """x_codes [M, K] (uint16 codes), table [2^bits] float64, w_values [N, K] float64 -> [M, N] float64."""
    m, k = x_codes.shape
    n = w_values.shape[0]
    out = np.empty((m, n), np.float64)
    for i in prange(m):
        row = np.empty(k, np.float64)
        for t in range(k):
            row[t] = table[x_codes[i, t]]
        for j in range(n):
            acc = 0.0
            w = w_values[j]
            for t in range(k):
                acc += row[t] * w[t]
            out[i, j] = acc
    return out
