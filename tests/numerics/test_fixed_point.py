"""Dyadic requantization against exact rational arithmetic (fractions / Python ints)."""
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from qcompiler.numerics.fixed_point import (ROUNDING_MODES, FixedPointError, quantize_multiplier,
                                            quantize_multipliers_shared_shift, requantize,
                                            rounding_shift)

INT64 = st.integers(-(2**63), 2**63 - 1)
INT32 = st.integers(-(2**31), 2**31 - 1)


def exact_round(value: Fraction, mode: str) -> int:
    floor = math.floor(value)
    frac = value - floor
    if frac != Fraction(1, 2):
        return floor + (frac > Fraction(1, 2))
    if mode == "half_up":
        return floor + 1
    if mode == "half_even":
        return floor + (floor % 2)
    return floor + 1 if value > 0 else floor  # half_away


@settings(max_examples=300, deadline=None)
@given(x=INT64, shift=st.integers(0, 63), mode=st.sampled_from(ROUNDING_MODES))
def test_rounding_shift_is_exact(x, shift, mode):
    assert int(rounding_shift(np.int64(x), shift, mode)) == exact_round(Fraction(x, 2**shift), mode)


@settings(max_examples=100, deadline=None)
@given(k=st.integers(-(2**40), 2**40), shift=st.integers(1, 20), mode=st.sampled_from(ROUNDING_MODES))
def test_rounding_shift_ties(k, shift, mode):
    # exact ties (k + 1/2) are where the modes differ
    x = k * 2**shift + 2 ** (shift - 1)
    assert int(rounding_shift(np.int64(x), shift, mode)) == exact_round(Fraction(2 * k + 1, 2), mode)


def test_modes_differ_on_ties_as_documented():
    x = np.array([5, -5, 3, -3, 7, -7], np.int64)  # /2: 2.5 -2.5 1.5 -1.5 3.5 -3.5
    assert rounding_shift(x, 1, "half_away").tolist() == [3, -3, 2, -2, 4, -4]
    assert rounding_shift(x, 1, "half_even").tolist() == [2, -2, 2, -2, 4, -4]
    assert rounding_shift(x, 1, "half_up").tolist() == [3, -2, 2, -1, 4, -3]


def test_rounding_shift_broadcasts_per_channel_shifts():
    x = np.array([[100, 100], [-100, -100]], np.int64)
    assert rounding_shift(x, np.array([2, 3]), "half_even").tolist() == [[25, 12], [-25, -12]]


@settings(max_examples=300, deadline=None)
@given(m=st.floats(2.0**-32, 2.0**31 - 1, allow_nan=False))
def test_multiplier_approximates_m(m):
    mult, shift = quantize_multiplier(m)
    mult, shift = int(mult), int(shift)
    assert 2**30 <= mult < 2**31 and 0 <= shift <= 63
    assert abs(Fraction(mult, 2**shift) - Fraction(m)) <= Fraction(m) * Fraction(1, 2**31)


def test_multiplier_edges():
    # 1 - 2^-40: the mantissa rounds up to 1.0 and moves to the next power of two
    mult, shift = quantize_multiplier(np.array([1.0, 0.5, 1 - 2.0**-40, 3.0]))
    assert mult.tolist() == [2**30, 2**30, 2**30, 3 * 2**29] and shift.tolist() == [30, 31, 30, 29]
    assert mult.dtype == np.int32 and shift.dtype == np.int32
    tiny_mult, tiny_shift = quantize_multiplier(1e-30)
    assert 2**30 <= int(tiny_mult) < 2**31 and int(tiny_shift) == 63


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf"), 2.0**31, 1e12])
def test_unrepresentable_multipliers_raise(bad):
    with pytest.raises(FixedPointError, match="multiplier"):
        quantize_multiplier(np.array([0.5, bad]))


def test_bad_mode_and_shift_raise():
    with pytest.raises(FixedPointError, match="rounding mode 'nearest'"):
        rounding_shift(np.int64(3), 1, "nearest")
    with pytest.raises(FixedPointError, match="shift must be in"):
        rounding_shift(np.int64(3), 64, "half_even")


@settings(max_examples=300, deadline=None)
@given(acc=INT32, m=st.floats(2.0**-40, 4.0, allow_nan=False), zp=st.integers(-128, 255),
       mode=st.sampled_from(ROUNDING_MODES))
def test_requantize_matches_rational_arithmetic(acc, m, zp, mode):
    mult, shift = quantize_multiplier(m)
    lo, hi = -128, 255
    got = int(requantize(np.int32(acc), mult, shift, zp, lo, hi, mode))
    exact = exact_round(Fraction(acc) * Fraction(int(mult), 2 ** int(shift)), mode) + zp
    assert got == min(max(exact, lo), hi)
    # and within one step of the real multiplier (the dyadic form is 2^-31 accurate)
    ideal = Fraction(acc) * Fraction(m) + zp
    assert abs(got - min(max(ideal, lo), hi)) <= 1


def test_requantize_tiny_multiplier_gives_the_zero_point():
    mult, shift = quantize_multiplier(2.0**-40)
    acc = np.array([-(2**31), -1, 0, 1, 2**31 - 1], np.int64)
    for mode in ROUNDING_MODES:
        assert requantize(acc, mult, shift, 7, -128, 127, mode).tolist() == [7] * 5


def test_requantize_rejects_accumulators_outside_int32():
    with pytest.raises(OverflowError, match="int32"):
        requantize(np.array([2**31]), 2**30, 31, 0, 0, 255, "half_even")


@settings(max_examples=200, deadline=None)
@given(ma=st.floats(1e-6, 100.0), mb=st.floats(1e-6, 100.0))
def test_shared_shift_keeps_the_largest_in_range(ma, mb):
    (qa, qb), shift = quantize_multipliers_shared_shift([ma, mb])
    big = max(int(qa), int(qb))
    assert 2**30 <= big < 2**31
    # each is within half a unit of the shared resolution 2^-shift
    for m, q in ((ma, int(qa)), (mb, int(qb))):
        assert abs(Fraction(q, 2 ** int(shift)) - Fraction(m)) <= Fraction(1, 2 ** (int(shift) + 1))


@pytest.mark.parametrize("mode", ROUNDING_MODES)
def test_rounding_shift_arrays_at_the_extremes(mode):
    """The in-place uint64 carry is exact at every shift, at int64's ends and on ties."""
    edges = np.array([-(2**63), 2**63 - 1, -1, 0, 1, 2**62, -(2**62), 3 << 40], np.int64)
    x, s = np.repeat(edges, 64), np.tile(np.arange(64), edges.size)
    k, t = np.arange(-28, 29, dtype=np.int64), np.arange(1, 58, dtype=np.int64)  # k·2^t + 2^(t-1): exact ties
    ties = (k << t) + (np.int64(1) << (t - 1))
    for values, by in ((x, s), (ties, t), (ties + 1, t), (ties - 1, t)):
        got = rounding_shift(values, by, mode)
        assert [int(g) for g in got] == [exact_round(Fraction(int(v), 2 ** int(b)), mode) for v, b in zip(values, by)]
