"""The dyadic requantization step, one scalar at a time, for use inside kernels.

Mirrors `qcompiler.numerics.fixed_point` operation for operation (floor shift, low-bit
remainder, tie rule), so a kernel's result equals the numpy reference bit for bit.
Rounding modes travel into kernels as small ints (`ROUNDING_CODES`).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from qcompiler.numerics.fixed_point import MAX_SHIFT, ROUNDING_MODES

HALF_AWAY, HALF_EVEN, HALF_UP = 0, 1, 2
ROUNDING_CODES = {"half_away": HALF_AWAY, "half_even": HALF_EVEN, "half_up": HALF_UP}
assert set(ROUNDING_CODES) == set(ROUNDING_MODES)

_INT64_MAX = np.int64(np.iinfo(np.int64).max)


@njit(cache=True)
def rounding_shift(x, shift, mode):
    """round(x / 2^shift) for int64 x and shift in [0, 63], ties broken by `mode`."""
    s = np.int64(shift)
    floor = x >> s
    remainder = x & (_INT64_MAX >> (MAX_SHIFT - s))
    half = np.int64(1) << max(s - 1, 0)
    up = remainder > half
    if s > 0 and remainder == half:
        if mode == HALF_UP:
            up = True
        elif mode == HALF_EVEN:
            up = (floor & 1) == 1
        else:  # a negative tie is already rounded away from zero by the floor
            up = x >= 0
    return floor + np.int64(up)


@njit(cache=True)
def requantize_one(acc, multiplier, shift, zero_point, lo, hi, mode):
    """Output storage value of one accumulator: int64 product, rounding shift, zero point, clamp."""
    return requantize_scaled_one(np.int64(acc) * np.int64(multiplier), shift, zero_point, lo, hi, mode)


@njit(cache=True)
def requantize_scaled_one(scaled, shift, zero_point, lo, hi, mode):
    """Output storage value of an int64 sum already multiplied (a group-wise product's
    Σ multiplier_g · acc_g): rounding shift, zero point, clamp."""
    y = rounding_shift(np.int64(scaled), shift, mode) + zero_point
    return np.int32(min(max(y, lo), hi))
