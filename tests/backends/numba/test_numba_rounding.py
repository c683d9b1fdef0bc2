"""The scalar rounding shift inside the kernels vs qcompiler.numerics.fixed_point."""
import numpy as np
import pytest
from numba import njit

from qcompiler.backends.numba.kernels.rounding import ROUNDING_CODES, requantize_one, rounding_shift
from qcompiler.numerics import fixed_point


@njit(cache=True)
def _shift_all(x, shift, mode):
    out = np.empty(x.size, np.int64)
    for i in range(x.size):
        out[i] = rounding_shift(x[i], shift[i], mode)
    return out


@njit(cache=True)
def _requantize_all(acc, multiplier, shift, zero_point, lo, hi, mode):
    out = np.empty(acc.size, np.int32)
    for i in range(acc.size):
        out[i] = requantize_one(acc[i], multiplier[i], shift[i], zero_point, lo, hi, mode)
    return out


def _hard_values(rng):
    """Ties, near-ties and extremes for every shift in [0, 63]."""
    shifts = np.repeat(np.arange(64, dtype=np.int64), 12)
    base = np.int64(1) << np.maximum(shifts - 1, 0)
    sign = np.tile([1, -1], shifts.size // 2)
    k = rng.integers(-2**20, 2**20, shifts.size)
    offsets = np.tile([0, 1, -1, 0, 1, -1], shifts.size // 6)
    x = np.where(shifts > 40, sign * base + offsets, (2 * k + 1) * base + offsets)  # odd multiples of half: ties
    extremes = np.array([2**62 - 1, -(2**62), 0, 1, -1, 2**31 * (2**31 - 1)], np.int64)
    return np.concatenate([x, extremes, rng.integers(-2**62, 2**62, 2000)]), \
        np.concatenate([shifts, rng.integers(0, 64, 6), rng.integers(0, 64, 2000)])


@pytest.mark.parametrize("mode", sorted(ROUNDING_CODES))
def test_rounding_shift_equals_fixed_point(mode):
    x, shifts = _hard_values(np.random.default_rng(0))
    want = fixed_point.rounding_shift(x, shifts, mode)
    np.testing.assert_array_equal(_shift_all(x, shifts, ROUNDING_CODES[mode]), want)


@pytest.mark.parametrize("mode", sorted(ROUNDING_CODES))
def test_requantize_one_equals_fixed_point(mode):
    rng = np.random.default_rng(1)
    acc = np.concatenate([rng.integers(-2**31, 2**31, 3000), [-(2**31), 2**31 - 1, 0]]).astype(np.int64)
    multiplier = rng.integers(2**30, 2**31, acc.size)
    shift = rng.integers(20, 64, acc.size)
    want = fixed_point.requantize(acc, multiplier, shift, -5, -128, 127, mode)
    got = _requantize_all(acc, multiplier, shift, -5, -128, 127, ROUNDING_CODES[mode])
    np.testing.assert_array_equal(got, want)
    assert 0 < np.mean(got == 127) < 1, "the sample should saturate some values and not others"
