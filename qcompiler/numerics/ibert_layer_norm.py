"""I-BERT's integer LayerNorm (Kim et al., 2021, Algorithm 4: integer square root by
Newton's iteration), over the last axis, in int32.

Per row of C values: y = C·x - Σx (C times x - mean, exact: I-BERT rounds the mean, an
error of up to half an input step); r = ⌊√(Σ y²)⌋ by Newton (r = C·√C · σ); the
normalized n = y / r at scale 2^-18 by integer long division, 6 bits a step; then
√C · γ_c, β_c and the output scale as a per-channel rescale (n keeps 18 bits, γ 12)
plus an integer bias. LayerNorm does not depend on the input scale, so only the
input's zero point enters.

Departures, for int32: I-BERT shifts y when Σ y² overflows; here each row picks its own
shifts from its largest |value| (one before the sum, so C·x fits; one before the
squares, then again from their sum so the root keeps 15 bits when a few channels
dominate), so a row far beyond the calibrated range still runs, a little coarser.
`eps` enters as an integer added to Σ y²: C³·eps / (S_in² · 4^k) for the row's total
shift k, from a table of the 64 shifts planned at compile time; the shift is at least
the one that brings that term to 2^29.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .ibert_fixed import Rescale, bit_lengths, int32, rounding_shift

NORMAL_BITS = 18       # n = y / r at scale 2^-18: |n| <= 2^18
NORMAL_VALUE_BITS = NORMAL_BITS + 2  # rounding and a root a little below the true one
RESCALE_VALUE_BUDGET = 18  # n keeps 18 bits, √C · γ_c / S_out 12
EPS_SHIFTS = 64
DIVISOR_BITS = 24      # r has at most 24 bits (y is cut with it) ...
DIGIT_BITS = 6         # ... so a remainder shifted by 6 bits stays below 2^30


def isqrt(n: np.ndarray) -> np.ndarray:
    """⌊√n⌋ of non-negative int32 values by Newton's iteration from 2^⌈bits/2⌉ (above the
    root, so the iterates fall monotonically to it)."""
    n = np.asarray(n, np.int64)
    x = np.int64(1) << ((bit_lengths(n) + 1) // 2)
    x = np.where(n == 0, 0, x)
    while True:
        nxt = (x + n // np.maximum(x, 1)) >> 1
        done = nxt >= x
        if done.all():
            return x
        x = np.where(done, x, nxt)


@dataclass(frozen=True)
class LayerNormPlan:
    channels: int
    log_channels: int      # ⌈log2 C⌉
    rescale: Rescale       # n -> output steps, γ_c in the multipliers
    bias: np.ndarray       # round(β_c / S_out)
    in_zero_point: int
    zero_point: int
    lo: int
    hi: int
    eps_squares: np.ndarray  # [64]: eps in units of Σ ys² after a total shift of k bits
    eps_shift: int           # the least total shift at which that is <= 2^29

    @staticmethod
    def of(channels: int, weight, bias, in_zero_point: int, out_scale: float, out_zero_point: int,
           lo: int, hi: int, in_scale: float = 0.0, eps: float = 0.0) -> "LayerNormPlan":
        gamma = np.ones(channels) if weight is None else np.broadcast_to(np.asarray(weight, np.float64), (channels,))
        beta = np.zeros(channels) if bias is None else np.broadcast_to(np.asarray(bias, np.float64), (channels,))
        real = gamma * math.sqrt(channels) * 2.0**-NORMAL_BITS / out_scale
        rescale = Rescale.of(real, NORMAL_VALUE_BITS, "i-LayerNorm output", value_budget=RESCALE_VALUE_BUDGET)
        beta_steps = int32(np.round(beta / out_scale).astype(np.int64), "i-LayerNorm bias in output steps")
        eps_real = float(channels)**3 * eps / in_scale**2 if in_scale > 0 else 0.0
        eps_squares = np.minimum(np.round(eps_real / 4.0 ** np.arange(EPS_SHIFTS)), 2**30).astype(np.int64)
        eps_shift = int(np.argmax(eps_squares <= 2**29))
        return LayerNormPlan(channels, (channels - 1).bit_length(), rescale, beta_steps, int(in_zero_point),
                             int(out_zero_point), int(lo), int(hi), eps_squares, eps_shift)


def i_layer_norm(q: np.ndarray, plan: LayerNormPlan) -> np.ndarray:
    """LayerNorm over the last axis of storage values q (int64 holding int32), as output storage."""
    x = np.asarray(q, np.int64) - plan.in_zero_point
    peak = bit_lengths(np.abs(x).max(axis=-1, keepdims=True))
    first = np.maximum(0, peak + plan.log_channels - 29)
    x = x >> first
    total = int32(x.sum(axis=-1, keepdims=True), "i-LayerNorm sum")
    y = int32(plan.channels * x - total, "i-LayerNorm centred")  # C · (x - mean), exact
    width = bit_lengths(np.abs(y).max(axis=-1, keepdims=True))
    shift_square = np.maximum(0, (2 * width + plan.log_channels - 30 + 1) // 2)  # as if every |y| were the largest
    ys = rounding_shift(y, shift_square)
    squares = int32((ys * ys).sum(axis=-1, keepdims=True), "i-LayerNorm sum of squares")
    # a row dominated by a few channels sums far below 2^30: shift less, bounded by Σ(|ys| + 1)²
    bound = int32(squares + 2 * np.abs(ys).sum(axis=-1, keepdims=True) + plan.channels, "i-LayerNorm square bound")
    shift_square = np.maximum(0, shift_square - (30 - bit_lengths(bound)) // 2)
    shift_square = np.maximum(shift_square, plan.eps_shift - first)  # so eps adds at most 2^29
    ys = rounding_shift(y, shift_square)
    squares = (ys * ys).sum(axis=-1, keepdims=True) + plan.eps_squares[np.minimum(first + shift_square, EPS_SHIFTS - 1)]
    root = isqrt(int32(squares, "i-LayerNorm sum of squares"))  # √(Σ y²) / 2^shift_square, 15 bits or so
    up = np.minimum(shift_square, DIVISOR_BITS - bit_lengths(root))  # the divisor takes up to 24 of them ...
    divisor, y = np.maximum(root << up, 1), y >> (shift_square - up)  # ... and y the rest of the shift
    n = y // divisor
    rest = y - n * divisor
    for _ in range(NORMAL_BITS // DIGIT_BITS):
        rest = int32(rest << DIGIT_BITS, "i-LayerNorm remainder")
        digit = rest // divisor
        n, rest = (n << DIGIT_BITS) + digit, rest - digit * divisor
    n = n + (2 * rest >= divisor)  # round to nearest
    out = plan.rescale(int32(n, "i-LayerNorm normalized")) + plan.bias
    return np.clip(out + plan.zero_point, plan.lo, plan.hi)
