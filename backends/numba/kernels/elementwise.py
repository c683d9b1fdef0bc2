"""Integer elementwise ops on flat (already broadcast) storage: qadd, qmul and qlut.
Serial loops: they are memory-bound, and serial kernels compile faster.

qadd rescales both centred operands with their own multipliers and rounds the sum once
(int64 throughout, like the reference; the branch-free rounding vectorizes); qmul
requantizes the exact product.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .requant_vector import shift_rounded
from .rounding import requantize_one

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


@njit(cache=True)
def qadd_kernel(a, b, a_zp, b_zp, multiplier_a, multiplier_b, shift, y_zp, lo, hi, mode, out):
    for i in range(a.size):
        scaled = (np.int64(a[i]) - a_zp) * multiplier_a + (np.int64(b[i]) - b_zp) * multiplier_b
        y = shift_rounded(scaled, shift, mode) + y_zp
        out[i] = np.int32(min(max(y, lo), hi))


@njit(cache=True)
def qmul_kernel(a, b, a_zp, b_zp, multiplier, shift, y_zp, lo, hi, mode, out, overflow):
    """overflow[0] is set when a product leaves int32 (the reference raises there)."""
    for i in range(a.size):
        acc = (np.int64(a[i]) - a_zp) * (np.int64(b[i]) - b_zp)
        if acc < INT32_MIN or acc > INT32_MAX:
            overflow[0] = 1
        out[i] = requantize_one(acc, multiplier, shift, y_zp, lo, hi, mode)


@njit(cache=True)
def qlut_kernel(x, table, qmin, out, bad):
    """out = table[x - qmin]; bad[0] is set by a storage value outside the table."""
    n = table.size
    for i in range(x.size):
        t = np.int64(x[i]) - qmin
        if t < 0 or t >= n:
            bad[0] = 1
            out[i] = 0
        else:
            out[i] = table[t]
