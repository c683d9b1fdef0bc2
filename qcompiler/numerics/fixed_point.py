"""Dyadic requantization: a real multiplier M is applied to an int32 accumulator as
`multiplier · 2^-shift` with `multiplier` in [2^30, 2^31), formed in int64 and shifted
right once with the target's rounding. Exact integer arithmetic, no floats at run time.

    M = s_in · s_w / s_out          (per output channel for per-channel weights)
    y = clamp(round(acc · multiplier / 2^shift) + zero_point, lo, hi)
"""
from __future__ import annotations

import numpy as np

from ..ir.errors import QIRError

ROUNDING_MODES = ("half_away", "half_even", "half_up")

# |acc| < 2^31 and multiplier < 2^31, so |acc · multiplier| < 2^62: any shift of 63 or
# more rounds it to 0 in every mode, so larger shifts are stored as 63
MAX_SHIFT = 63


class FixedPointError(QIRError):
    """A multiplier that has no dyadic form, an unknown rounding mode, a bad shift."""


def quantize_multiplier(m) -> tuple:
    """(multiplier int32 in [2^30, 2^31), shift int32) with multiplier · 2^-shift ≈ M
    within 2^-31 relative, elementwise. M ≥ 1 gives a small shift (down to 0, so M must
    round to less than 2^31); M < 2^-32 rounds every int32 accumulator to 0 and gets shift 63."""
    m = np.asarray(m, np.float64)
    if not np.all(np.isfinite(m)) or np.any(m <= 0):
        raise FixedPointError(f"requantization multipliers must be finite and > 0, got {_show(m)}")
    mantissa, exponent = np.frexp(m)  # m = mantissa · 2^exponent, mantissa in [0.5, 1)
    multiplier = np.rint(np.ldexp(mantissa, 31)).astype(np.int64)
    carry = multiplier == 2**31  # the mantissa rounded up to 1.0
    multiplier = np.where(carry, 2**30, multiplier)
    shift = 31 - (exponent.astype(np.int64) + carry)
    if np.any(shift < 0):
        raise FixedPointError(f"requantization multiplier {_show(m[shift < 0])} rounds to 2^31 or more: "
                              "it has no form multiplier · 2^-shift with a right shift")
    return multiplier.astype(np.int32), np.minimum(shift, MAX_SHIFT).astype(np.int32)


def quantize_multipliers_shared_shift(ms) -> tuple:
    """Several real multipliers on one shift (qadd: each operand rescaled, one rounding
    of the sum): the largest gets a multiplier in [2^30, 2^31), the others are rounded
    at the same shift, so a much smaller one keeps fewer significant bits."""
    ms = np.asarray(ms, np.float64)
    shift = quantize_multiplier(ms)[1].min()  # the largest multiplier has the smallest shift
    return np.rint(np.ldexp(ms, int(shift))).astype(np.int32), shift


def quantize_multipliers_per_row(ms) -> tuple:
    """Rows of real multipliers [C, G], each row on one shift (a group-wise product: one
    output channel's group multipliers scale int32 partial sums onto one fixed-point
    sum): (multipliers int32 [C, G], shifts int32 [C]); the largest of each row lies in
    [2^30, 2^31), smaller ones keep fewer significant bits."""
    ms = np.asarray(ms, np.float64)
    shift = quantize_multiplier(ms.max(axis=1))[1]
    return np.rint(np.ldexp(ms, shift[:, None].astype(np.int64))).astype(np.int32), shift


def rounding_shift(x, shift, mode: str) -> np.ndarray:
    """round(x / 2^shift) for int64 x and shift in [0, 63], ties broken by `mode`:
    half_away (away from zero), half_even (to even), half_up (toward +inf)."""
    if mode not in ROUNDING_MODES:
        raise FixedPointError(f"unknown rounding mode {mode!r}; expected one of {', '.join(ROUNDING_MODES)}")
    x = np.asarray(x, np.int64)
    s = np.asarray(shift, np.int64)
    if np.any(s < 0) or np.any(s > MAX_SHIFT):
        raise FixedPointError(f"shift must be in [0, {MAX_SHIFT}], got {_show(s)}")
    floor = x >> s
    # floor + 1 when the low `s` bits r, plus a per-mode offset, carry into bit `s`:
    # r >= half (half_up), r > half for negative x (half_away), r > half - odd (half_even);
    # in uint64, where r + offset < 2^63 + 2^62 cannot wrap, and in place (report() runs
    # this over every accumulator of a model)
    su = s.astype(np.uint64)
    one = np.uint64(1)
    half = (one << su) >> one  # 0 for shift 0, which then rounds nothing
    rounds = (s > 0).astype(np.uint64)
    carry = x.view(np.uint64) & ((one << su) - one)
    if mode == "half_up":
        carry += half
    elif mode == "half_even":
        carry += half - rounds
        carry += floor.view(np.uint64) & rounds
    else:
        carry += half
        carry -= (x.view(np.uint64) >> np.uint64(63)) & rounds  # sign bit: a negative tie stays down
    carry >>= su
    floor += carry.view(np.int64)
    return floor


def requantize(acc, multiplier, shift, zero_point, lo, hi, mode: str) -> np.ndarray:
    """Output storage values (int32) of an int32 accumulator: the int64 product with the
    multiplier, one rounding shift, the zero point, then the clamp to [lo, hi]."""
    acc = np.asarray(acc, np.int64)
    if acc.size and (acc.min() < -(2**31) or acc.max() >= 2**31):
        raise OverflowError(f"accumulator outside int32: [{acc.min()}, {acc.max()}]")
    return requantize_scaled(acc * np.asarray(multiplier, np.int64), shift, zero_point, lo, hi, mode)


def requantize_scaled(scaled, shift, zero_point, lo, hi, mode: str) -> np.ndarray:
    """Output storage values (int32) of an int64 fixed-point sum already multiplied (a
    group-wise product's Σ multiplier_g · acc_g, |sum| < 2^62): one rounding shift, the
    zero point, the clamp."""
    y = rounding_shift(scaled, shift, mode)
    return np.clip(y + np.asarray(zero_point, np.int64), lo, hi).astype(np.int32)


def _show(a: np.ndarray) -> str:
    flat = np.asarray(a).ravel()
    return str(flat.tolist()) if flat.size <= 4 else f"{flat[:4].tolist()}... ({flat.size} values)"
