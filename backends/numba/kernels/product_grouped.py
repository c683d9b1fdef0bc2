"""Integer matrix product with a group-wise weight (qlinear, and qmatmul with a constant
right operand; qcompiler/ir/ops/quant_group.py): out[b, i, j] is the rounding shift of
Σ_g multiplier[j, g] · (Σ_{k in block g} x[b, i, k] · w[j, k]) + bias[j] · bias_multiplier[j].
Parallel over (batch, output column); each block's dot product is one contiguous loop."""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .rounding import requantize_scaled_one


@njit(parallel=True, cache=True)
def qproduct_grouped_kernel(xc, w, group, block_multiplier, bias, bias_multiplier, shift, y_zp, lo, hi, mode, out):
    """xc: centred input [B, M, K] int32; w: centred weight rows [N, K] int32; block_multiplier:
    [N, K / group] int64; bias, bias_multiplier, shift: [N]; out: [B, M, N] int32."""
    n_batch, m_rows, k = xc.shape
    n_out = out.shape[2]
    blocks = k // group
    for task in prange(n_batch * n_out):
        b = task // n_out
        j = task % n_out
        row = w[j]
        for i in range(m_rows):
            x = xc[b, i]
            total = np.int64(bias[j]) * bias_multiplier[j]
            for g in range(blocks):
                partial = np.int64(0)
                for t in range(g * group, (g + 1) * group):
                    partial += x[t] * row[t]
                total += partial * block_multiplier[j, g]
            out[b, i, j] = requantize_scaled_one(total, shift[j], y_zp, lo, hi, mode)
