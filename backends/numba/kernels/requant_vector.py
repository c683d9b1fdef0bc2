"""Requantization of a run of accumulators that share one output channel's parameters,
in a form LLVM vectorizes (AVX-512: vpmullq, vpsraq), instead of
`rounding.requantize_one` per output, whose tie branches keep it scalar.

The same integers as `rounding.requantize_one`: the int32 accumulator (here a wrapped
u8×s8 sum minus its zero-point correction, both modulo 2^32), plus the bias in int64,
times the multiplier, one rounding shift, the zero point, the clamp. The rounding shift
is one add and one arithmetic shift, the mode chosen once per run: with h = 2^(s-1),
x = 2^s·q + r (0 <= r < 2^s),
- half_up:   (x + h) >> s                     (r >= h rounds up)
- half_away: (x + h - 1 + [x >= 0]) >> s      (a tie rounds up only when x >= 0)
- half_even: (x + h - 1 + (q & 1)) >> s       (a tie rounds up only when q is odd)
and x itself when s = 0. |x| < 2^62 (|acc| < 2^31, multiplier < 2^31), so nothing overflows.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .rounding import HALF_AWAY, HALF_UP


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
    if s == 0:
        for i in range(out.size):
            x = (np.int64(np.int32(np.int64(raw[i]) - c)) + b) * m
            out[i] = np.int32(min(max(x + zp, low), high))
        return
    h = np.int64(1) << (s - 1)
    if mode == HALF_UP:
        for i in range(out.size):
            x = (np.int64(np.int32(np.int64(raw[i]) - c)) + b) * m
            out[i] = np.int32(min(max(((x + h) >> s) + zp, low), high))
    elif mode == HALF_AWAY:
        for i in range(out.size):
            x = (np.int64(np.int32(np.int64(raw[i]) - c)) + b) * m
            out[i] = np.int32(min(max(((x + h - 1 + np.int64(x >= 0)) >> s) + zp, low), high))
    else:  # half_even
        for i in range(out.size):
            x = (np.int64(np.int32(np.int64(raw[i]) - c)) + b) * m
            out[i] = np.int32(min(max(((x + h - 1 + ((x >> s) & 1)) >> s) + zp, low), high))
