"""Integer matrix products: out[b, i, j] = requant(Σ_k x[b, i, k]·(w[b, j, k] - zp_w[j]) + bias[j]).

qlinear is one batch with the weight rows [out, in]; qmatmul passes its right operand
transposed to rows. Parallel over (batch, output column): each task unpacks one weight
row once and reuses it for every input row. The dot products over k are contiguous int32
reductions that LLVM vectorizes, four input rows at a time so each weight load feeds
four multiply-adds.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .pack import unpack_row
from .rounding import requantize_one

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


@njit(cache=True)
def _dot32x4(x0, x1, x2, x3, w, start):
    """Four dot products the caller proved fit int32: truncating lets LLVM keep int32 lanes."""
    a0 = a1 = a2 = a3 = start
    for t in range(w.size):
        wt = w[t]
        a0 += x0[t] * wt
        a1 += x1[t] * wt
        a2 += x2[t] * wt
        a3 += x3[t] * wt
    return np.int32(a0), np.int32(a1), np.int32(a2), np.int32(a3)


@njit(cache=True)
def _dot32(x, w, start):
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
    Bw = B or 1 (one weight shared by every batch); w_zp, bias, multiplier, shift: [N];
    out: [B, M, N] int32; overflow: [B·N] flags, set only with `wide` (int64) accumulators."""
    n_batch, m_rows, k = xc.shape
    n_out = out.shape[2]
    for task in prange(n_batch * n_out):
        b = task // n_out
        j = task % n_out
        wrow = np.empty(k, np.int32)
        unpack_row(packed_w[b % packed_w.shape[0], j], k, bits, signed, wrow)
        for t in range(k):
            wrow[t] -= w_zp[j]
        m, s = multiplier[j], shift[j]
        if wide:
            for i in range(m_rows):
                a = _dot64(xc[b, i], wrow, bias[j])
                if a < INT32_MIN or a > INT32_MAX:
                    overflow[task] = 1
                out[b, i, j] = requantize_one(a, m, s, y_zp, lo, hi, mode)
            continue
        blocked = m_rows - m_rows % 4
        for i in range(0, blocked, 4):
            a0, a1, a2, a3 = _dot32x4(xc[b, i], xc[b, i + 1], xc[b, i + 2], xc[b, i + 3], wrow, bias[j])
            out[b, i, j] = requantize_one(a0, m, s, y_zp, lo, hi, mode)
            out[b, i + 1, j] = requantize_one(a1, m, s, y_zp, lo, hi, mode)
            out[b, i + 2, j] = requantize_one(a2, m, s, y_zp, lo, hi, mode)
            out[b, i + 3, j] = requantize_one(a3, m, s, y_zp, lo, hi, mode)
        for i in range(blocked, m_rows):
            out[b, i, j] = requantize_one(_dot32(xc[b, i], wrow, bias[j]), m, s, y_zp, lo, hi, mode)
