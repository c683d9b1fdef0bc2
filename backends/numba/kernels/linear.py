"""Integer matrix products: out[b, i, j] = requant(Σ_k x[b, i, k]·(w[b, j, k] - zp_w[j]) + bias[j]).

qlinear is one batch with the weight rows [out, in]; qmatmul passes its right operand
transposed to rows. Tasks are (batch, block of four output columns) (qproduct_kernel runs a
range of them, its _parallel twin chunks of them over Numba's threads): each task
unpacks its four weight rows once, then computes 4×4 tiles of dot products over k in
one contiguous loop (sixteen int32 reductions that LLVM vectorizes), so every loaded
input row feeds four weight rows and every weight row four input rows.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .chunks import chunk_bounds
from .dot import dot16
from .pack import unpack_row
from .rounding import requantize_one
from .tile16 import pmadd_tile_4x4

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
BLOCK = 4  # rows and columns per tile (the tile loop below is written for four)


@njit(cache=True)
def _tile32(x0, x1, x2, x3, w, tile):
    """tile[r, c] = x_r · w[c] for a 4×4 tile the caller proved fits int32 (truncating
    lets LLVM keep int32 lanes)."""
    w0, w1, w2, w3 = w[0], w[1], w[2], w[3]
    a00 = a01 = a02 = a03 = a10 = a11 = a12 = a13 = 0
    a20 = a21 = a22 = a23 = a30 = a31 = a32 = a33 = 0
    for t in range(w0.size):
        p0, p1, p2, p3 = x0[t], x1[t], x2[t], x3[t]
        q0, q1, q2, q3 = w0[t], w1[t], w2[t], w3[t]
        a00 += p0 * q0
        a01 += p0 * q1
        a02 += p0 * q2
        a03 += p0 * q3
        a10 += p1 * q0
        a11 += p1 * q1
        a12 += p1 * q2
        a13 += p1 * q3
        a20 += p2 * q0
        a21 += p2 * q1
        a22 += p2 * q2
        a23 += p2 * q3
        a30 += p3 * q0
        a31 += p3 * q1
        a32 += p3 * q2
        a33 += p3 * q3
    tile[0, 0], tile[0, 1], tile[0, 2], tile[0, 3] = np.int32(a00), np.int32(a01), np.int32(a02), np.int32(a03)
    tile[1, 0], tile[1, 1], tile[1, 2], tile[1, 3] = np.int32(a10), np.int32(a11), np.int32(a12), np.int32(a13)
    tile[2, 0], tile[2, 1], tile[2, 2], tile[2, 3] = np.int32(a20), np.int32(a21), np.int32(a22), np.int32(a23)
    tile[3, 0], tile[3, 1], tile[3, 2], tile[3, 3] = np.int32(a30), np.int32(a31), np.int32(a32), np.int32(a33)


@njit(cache=True)
def _dot64(x, w):
    acc = np.int64(0)
    for t in range(x.size):
        acc += np.int64(x[t]) * w[t]
    return acc


@njit(cache=True)
def product_tasks(out):
    """How many tasks qproduct_kernel splits `out` [B, M, N] into (a batch's block of columns)."""
    return out.shape[0] * -(-out.shape[2] // BLOCK)


@njit(cache=True)
def qproduct_kernel(first, last, xc, packed_w, bits, signed, w_zp, bias, multiplier, shift, y_zp, lo, hi, mode,
                    wide, out, overflow):
    """Tasks [first, last) of product_tasks(out). xc: centred input [B, M, K] int32; packed_w:
    [Bw, N, bytes] uint8 rows of K weights, Bw = B or 1 (one weight shared by every batch);
    w_zp, bias, multiplier, shift: [N]; out: [B, M, N] int32; overflow: [B·N] flags, set only
    with `wide` (int64) accumulators."""
    m_rows, k = xc.shape[1:]
    n_out = out.shape[2]
    blocks = -(-n_out // BLOCK)
    for task in range(first, last):
        b = task // blocks
        j0 = (task % blocks) * BLOCK
        cols = min(BLOCK, n_out - j0)
        w = np.zeros((BLOCK, k), np.int32)  # missing columns of the last block stay 0
        for c in range(cols):
            unpack_row(packed_w[b % packed_w.shape[0], j0 + c], k, bits, signed, w[c])
            for t in range(k):
                w[c, t] -= w_zp[j0 + c]
        tile = np.empty((BLOCK, BLOCK), np.int32)
        for i0 in range(0, m_rows, BLOCK):
            rows = min(BLOCK, m_rows - i0)
            if wide:
                for r in range(rows):
                    for c in range(cols):
                        a = _dot64(xc[b, i0 + r], w[c]) + bias[j0 + c]
                        if a < INT32_MIN or a > INT32_MAX:
                            overflow[b * n_out + j0 + c] = 1
                        out[b, i0 + r, j0 + c] = requantize_one(a, multiplier[j0 + c], shift[j0 + c], y_zp, lo,
                                                                hi, mode)
                continue
            last = m_rows - 1  # a short last block repeats its last row and discards the copies
            _tile32(xc[b, i0], xc[b, min(i0 + 1, last)], xc[b, min(i0 + 2, last)], xc[b, min(i0 + 3, last)], w,
                    tile)
            for r in range(rows):
                for c in range(cols):
                    a = np.int64(tile[r, c]) + bias[j0 + c]
                    out[b, i0 + r, j0 + c] = requantize_one(a, multiplier[j0 + c], shift[j0 + c], y_zp, lo, hi,
                                                            mode)


@njit(parallel=True, cache=True)
def qproduct_parallel(chunks, xc, packed_w, bits, signed, w_zp, bias, multiplier, shift, y_zp, lo, hi, mode, wide,
                      out, overflow):
    tasks = product_tasks(out)
    for c in prange(chunks):
        first, last = chunk_bounds(c, chunks, tasks)
        qproduct_kernel(first, last, xc, packed_w, bits, signed, w_zp, bias, multiplier, shift, y_zp, lo, hi, mode,
                        wide, out, overflow)


@njit(parallel=True, cache=True)
def qproduct16_kernel(xc, w, bias, multiplier, shift, y_zp, lo, hi, mode, out):
    """The int16 form for inputs and weights of at most 8 bits with a proven int32
    accumulator: xc: centred input [B, M, K] int16; w: centred weight rows [Bw, N, K]
    int16 (Bw = B or 1); each output is one `dot16` (vpmaddwd), which beats the 4×4
    int32 tiles above because LLVM vectorizes only a single int16 reduction per loop
    into pair multiply-adds. Parallel over (batch, row)."""
    n_batch, m_rows, k = xc.shape
    n_out = out.shape[2]
    for task in prange(n_batch * m_rows):
        b = task // m_rows
        i = task % m_rows
        x = xc[b, i]
        rows = w[b % w.shape[0]]
        for j in range(n_out):
            a = np.int64(dot16(x, rows[j], k)) + bias[j]
            out[b, i, j] = requantize_one(a, multiplier[j], shift[j], y_zp, lo, hi, mode)


@njit(parallel=True, cache=True)
def qproduct_tiled_kernel(xc, w, bias, multiplier, shift, y_zp, lo, hi, mode, out):
    """The AVX-512 BW form of qproduct16_kernel: xc: centred input [B, M rounded up to 4, Kp]
    int16 and w: centred weight rows [N rounded up to 4, Kp] int16, both zero-padded with Kp
    a multiple of tile16.LANES; 4×4 tiles of `tile16.pmadd_tile_4x4`, parallel over
    (batch, block of four rows)."""
    n_batch, m_rows, n_out = out.shape
    blocks = -(-m_rows // BLOCK)
    kp = w.shape[1]
    for task in prange(n_batch * blocks):
        b = task // blocks
        i0 = (task % blocks) * BLOCK
        tile = np.empty((BLOCK, BLOCK), np.int32)
        for j0 in range(0, n_out, BLOCK):
            pmadd_tile_4x4(xc[b, i0:i0 + BLOCK], w[j0:j0 + BLOCK], kp, tile)
            for r in range(min(BLOCK, m_rows - i0)):
                for c in range(min(BLOCK, n_out - j0)):
                    a = np.int64(tile[r, c]) + bias[j0 + c]
                    out[b, i0 + r, j0 + c] = requantize_one(a, multiplier[j0 + c], shift[j0 + c], y_zp, lo, hi, mode)
