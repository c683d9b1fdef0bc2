"""Requantization of a run of accumulators that share one output channel's parameters,
in a branch-free form LLVM vectorizes (AVX-512: vpmullq, vpsraq, masked selects),
instead of `rounding.requantize_one` per output, whose tie branches keep it scalar.

Step for step the same integers as `rounding.requantize_one`: the int32 accumulator
(here a wrapped u8×s8 sum minus its zero-point correction, both modulo 2^32), plus the
bias in int64, times the multiplier, one rounding shift (floor, low-bit remainder, tie
rule), the zero point, the clamp.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from qcompiler.numerics.fixed_point import MAX_SHIFT

from .rounding import HALF_AWAY, HALF_EVEN, HALF_UP

_INT64_MAX = np.int64(np.iinfo(np.int64).max)


@njit(cache=True)
def requantize_run(raw, correction, bias, multiplier, shift, zero_point, lo, hi, mode, out):
    """out[i] = requantize_one(int32(raw[i] - correction) + bias, ...) for i < out.size;
    raw: int32 sums modulo 2^32; correction: int32 (modulo 2^32) subtracted from each."""
    s = np.int64(shift)
    mask = _INT64_MAX >> (MAX_SHIFT - s)
    half = np.int64(1) << max(s - 1, 0)
    ties_up = mode == HALF_UP
    ties_even = mode == HALF_EVEN
    ties_away = mode == HALF_AWAY
    exact_ties = s > 0
    m = np.int64(multiplier)
    b = np.int64(bias)
    c = np.int64(correction)
    for i in range(out.size):
        acc = np.int64(np.int32(np.int64(raw[i]) - c)) + b
        x = acc * m
        floor = x >> s
        remainder = x & mask
        tie_up = ties_up | (ties_even & ((floor & 1) == 1)) | (ties_away & (x >= 0))
        up = (remainder > half) | (exact_ties & (remainder == half) & tie_up)
        y = floor + np.int64(up) + zero_point
        out[i] = np.int32(min(max(y, lo), hi))
