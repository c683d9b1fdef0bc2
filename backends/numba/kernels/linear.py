"""Integer matrix products: out[b, i, j] = requant(Σ_k x[b, i, k]·(w[b, j, k] - zp_w[j]) + bias[j]).

qlinear is one batch with the weight rows [out, in]; qmatmul passes its right operand
transposed to rows. Parallel over (batch, output column): each task unpacks one weight
row once and reuses it for every input row, and the dot product over k is a contiguous
int32 reduction that LLVM vectorizes.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .pack import unpack_row
from .rounding import requantize_one

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


@njit(cache=True)
def _dot32(x, w, start):
    """A dot product the caller proved fits int32: truncating lets LLVM keep int32 lanes."""
    acc = start
    for t in range(x.size):
        acc += x[t] * w[t]
    return np.int32(acc)


@njit(cache=True)
def _dot64(x, w, start):
    acc = np.int64(start)
    for t in range(x.size):
        acc += np.int64(x[t]) * w[t]
    return acc


@njit(parallel=True, cache=True)
def qproduct_kernel(xc, packed_w, bits, signed, w_zp, bias, multiplier, shift, y_zp, lo, hi, mode, wide,
                    out, overflow):
    """xc: centred input [B, M, K] int32; packed_w: [Bw, N, bytes] uint8 rows of K weights,
    Bw = B or 1 (one weight shared by every batch);
    w_zp, bias, multiplier, shift: [N]; out: [B, M, N] int32; overflow: [B·N] flags,
    set only with `wide` (int64) accumulators."""
    n_batch, m_rows, k = xc.shape
    n_out = out.shape[2]
    for task in prange(n_batch * n_out):
        b = task // n_out
        j = task % n_out
        wrow = np.empty(k, np.int32)
        unpack_row(packed_w[b % packed_w.shape[0], j], k, bits, signed, wrow)
        for t in range(k):
            wrow[t] -= w_zp[j]
        for i in range(m_rows):
            if wide:
                a = _dot64(xc[b, i], wrow, bias[j])
                if a < INT32_MIN or a > INT32_MAX:
                    overflow[task] = 1
            else:
                a = _dot32(xc[b, i], wrow, bias[j])
            out[b, i, j] = requantize_one(a, multiplier[j], shift[j], y_zp, lo, hi, mode)
