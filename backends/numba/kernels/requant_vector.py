"""Requantization of a run of accumulators that share one output channel's parameters,
in a branch-free form LLVM vectorizes (AVX-512: vpmullq, vpsraq, masked selects on the
loop-invariant rounding mode), instead of `rounding.requantize_one` per output, whose tie
branches keep it scalar.

The same integers as `rounding.requantize_one`: the int32 accumulator (here a wrapped
u8×s8 sum minus its zero-point correction, both modulo 2^32), plus the bias in int64,
times the multiplier, one rounding shift (`shift_rounded`: floor, low-bit remainder,
tie rule, as `rounding.rounding_shift`), the zero point, the clamp.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from qcompiler.numerics.fixed_point import MAX_SHIFT

from .rounding import HALF_AWAY, HALF_UP

_INT64_MAX = np.int64(np.iinfo(np.int64).max)


@njit(inline="always", cache=True)
def shift_rounded(x, s, mode):
    """rounding.rounding_shift(x, s, mode) for any int64 x and s in [0, 63], branch-free:
    floor plus [remainder - half + tie > 0], tie 1 when the mode rounds this tie up."""
    floor = x >> s
    remainder = x & (_INT64_MAX >> (MAX_SHIFT - s))
    half = np.int64(1) << max(s - 1, 0)  # with s = 0 the remainder is 0 and nothing rounds up
    tie = np.int64(1) if mode == HALF_UP else (np.int64(x >= 0) if mode == HALF_AWAY else floor & 1)
    return floor + np.int64(remainder - half + tie > 0)


@njit(cache=True)
def requantize_run(raw, correction, bias, multiplier, shift, zero_point, lo, hi, mode, out):
    """out[i] = requantize_one(int32(raw[i] - correction) + bias, ...) for i < out.size;
    raw: int32 sums modulo 2^32; correction: int32 (modulo 2^32) subtracted from each."""
    s = np.int64(shift)
    m = np.int64(multiplier)
    b = np.int64(bias)
    c = np.int64(correction)
    zp = np.int64(zero_point)
    low, high = np.int64(lo), np.int64(hi)
    for i in range(out.size):
        x = (np.int64(np.int32(np.int64(raw[i]) - c)) + b) * m
        out[i] = np.int32(min(max(shift_rounded(x, s, mode) + zp, low), high))
