"""Integer average pools: window sums of centred storage (int64), requantized once.

The division by the window size is already folded into the multiplier, so a pool is a
sum and one requantization; overflow flags report sums outside int32 (the reference
raises there).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from qcompiler.ir.ops.quant_pool import MAX_MEAN_SHIFT

from .rounding import requantize_one, rounding_shift

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


@njit(cache=True)
def qavg_pool2d_kernel(xc, kh, kw, sh, sw, multiplier, shift, y_zp, lo, hi, mode, out, overflow):
    """xc: centred input padded by the window plan [N, C, Hp, Wp] int32; out: [N, C, OH, OW]."""
    n_batch, channels, oh, ow = out.shape
    for task in range(n_batch * channels):
        n = task // channels
        c = task % channels
        plane = xc[n, c]
        for oy in range(oh):
            for ox in range(ow):
                acc = np.int64(0)
                for ky in range(kh):
                    row = plane[oy * sh + ky]
                    for kx in range(kw):
                        acc += row[ox * sw + kx]
                if acc < INT32_MIN or acc > INT32_MAX:
                    overflow[task] = 1
                out[n, c, oy, ox] = requantize_one(acc, multiplier, shift, y_zp, lo, hi, mode)


@njit(cache=True)
def qglobal_avg_pool_kernel(x, x_zp, multiplier, shift, y_zp, lo, hi, mode, out, overflow):
    """x: storage [N·C, S] (spatial dims flattened); out: [N·C]."""
    rows, size = x.shape
    for r in range(rows):
        acc = np.int64(0)
        for t in range(size):
            acc += x[r, t]
        acc -= np.int64(x_zp) * size
        if acc < INT32_MIN or acc > INT32_MAX:
            overflow[r] = 1
        out[r] = requantize_one(acc, multiplier, shift, y_zp, lo, hi, mode)


@njit(cache=True)
def qglobal_mean_kernel(x, x_zp, multiplier, shift, y_zp, lo, hi, mode, out):
    """A global pool over a run-time count (quant_pool.mean_requantize, step for step):
    x: storage [N·C, count] with 1 <= count < 2^32; out: [N·C]. The sum is int64, so
    it cannot overflow for any count the division accepts."""
    rows, count = x.shape
    m = np.int64(multiplier)
    shift_plus_sticky = min(shift + 1, MAX_MEAN_SHIFT)
    for r in range(rows):
        acc = np.int64(0)
        for t in range(count):
            acc += x[r, t]
        acc -= np.int64(x_zp) * count
        a, b = acc // count, acc % count
        q2, rem = (b * m) // count, (b * m) % count
        sticky = 2 * (a * m + q2) + np.int64(rem != 0)
        y = rounding_shift(sticky, shift_plus_sticky, mode) + y_zp
        out[r] = np.int32(min(max(y, lo), hi))
