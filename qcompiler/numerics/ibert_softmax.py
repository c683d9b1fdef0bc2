"""I-BERT's integer exp and softmax (Kim et al., 2021, Algorithms 2-3), in int32.

i-exp of x <= 0 at scale S: write x = -z·ln2 + p with p in (-ln2, 0], so exp(x) =
2^-z · exp(p), and exp(p) ≈ 0.3585 (p + 1.353)² + 0.344 on that interval. In integers
(q_ln2 = ⌊ln2/S⌋, q_b = ⌊1.353/S⌋, q_c = ⌊0.344/(0.3585 S²)⌋):
z = ⌊-q / q_ln2⌋, q_p = q + z·q_ln2, q_exp = ((q_p + q_b)² + q_c) >> z at scale 0.3585 S².

Departures, for int32 on 8-bit inputs: the input is first brought to S' in (2^-14, 2^-13]
by a left shift (an 8-bit scale of 0.05 would floor ln2 to 13 steps, a 6% error) —
this bounds (q_p + q_b)² + q_c by 2^29.5; exponents below -30·ln2 are clipped (2^-30 is
below every output step); inputs have at most 16 bits, so q - max(q) fits; and every
exp is cut to 16 bits (`drop`) so a row of up to 2^14 of them sums in int32. i-softmax
then takes p = round(2^13 · q_exp / Σ q_exp) by integer division and rescales p to the
output type. Masked positions (`keep` false) take no part; a row with nothing kept
gives 0.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .ibert_fixed import IBertError, Rescale, int32, rounding_shift

EXP_A, EXP_B, EXP_C = 0.3585, 1.353, 0.344
LN2 = math.log(2.0)
WORK_SCALE_BITS = 13      # S' in (2^-14, 2^-13]
EXP_BITS = 16             # every exp term <= 2^16
MAX_ROW = 2**14           # so a row sums below 2^30
PROBABILITY_BITS = 13     # p at scale 2^-13 before the output rescale
MAX_HALVINGS = 30         # exp(-30 ln2) = 2^-30


@dataclass(frozen=True)
class ExpPlan:
    """Compile-time constants of i-exp for input scale `scale`."""

    upshift: int     # x' = x · 2^upshift (a right shift when negative)
    floor_in: int    # inputs below it are clipped before the shift (in input steps)
    q_ln2: int
    q_b: int
    q_c: int
    drop: int        # right shift cutting each term to EXP_BITS bits
    scale: float     # of the result: 0.3585 S'² · 2^drop

    @staticmethod
    def of(scale: float) -> "ExpPlan":
        if not scale > 0:
            raise IBertError(f"i-exp: input scale must be > 0, got {scale}")
        upshift = math.ceil(math.log2(scale) + WORK_SCALE_BITS)
        work = scale / 2.0**upshift
        q_ln2, q_b = math.floor(LN2 / work), math.floor(EXP_B / work)
        q_c = math.floor(EXP_C / (EXP_A * work * work))
        drop = max(0, (q_b * q_b + q_c).bit_length() - EXP_BITS)
        floor_in = -math.ceil(MAX_HALVINGS * LN2 / scale)
        return ExpPlan(upshift, floor_in, q_ln2, q_b, q_c, drop, EXP_A * work * work * 2.0**drop)


def i_exp(q: np.ndarray, plan: ExpPlan) -> np.ndarray:
    """Integer exp of int values q <= 0 (int64 array holding int32 values), at plan.scale."""
    x = np.maximum(np.asarray(q, np.int64), plan.floor_in)  # keeps the shift in int32
    x = x << plan.upshift if plan.upshift >= 0 else rounding_shift(x, -plan.upshift)
    x = np.maximum(int32(x, "i-exp shifted input"), -MAX_HALVINGS * plan.q_ln2)
    z = (-x) // plan.q_ln2
    p = x + z * plan.q_ln2
    poly = int32((p + plan.q_b) * (p + plan.q_b) + plan.q_c, "i-exp polynomial")
    return (poly >> plan.drop) >> z


@dataclass(frozen=True)
class SoftmaxPlan:
    exp: ExpPlan
    rescale: Rescale   # p (scale 2^-13) -> output steps
    zero_point: int
    lo: int
    hi: int

    @staticmethod
    def of(in_scale: float, out_scale: float, out_zero_point: int, lo: int, hi: int) -> "SoftmaxPlan":
        rescale = Rescale.of(2.0**-PROBABILITY_BITS / out_scale, PROBABILITY_BITS + 1, "i-softmax output")
        return SoftmaxPlan(ExpPlan.of(in_scale), rescale, int(out_zero_point), int(lo), int(hi))


def i_softmax(q: np.ndarray, plan: SoftmaxPlan, keep=None) -> np.ndarray:
    """Softmax over the last axis of centred int values q (int64), as output storage."""
    q = np.asarray(q, np.int64)
    if q.shape[-1] > MAX_ROW:
        raise IBertError(f"i-softmax: rows of {q.shape[-1]} exceed {MAX_ROW}, whose exp terms would not sum in int32")
    kept = np.ones(q.shape, bool) if keep is None else np.broadcast_to(keep, q.shape)
    low = np.iinfo(np.int64).min
    peak = np.max(np.where(kept, q, low), axis=-1, keepdims=True)
    e = np.where(kept, i_exp(np.where(kept, q - np.where(peak == low, 0, peak), 0), plan.exp), 0)
    total = int32(e.sum(axis=-1, keepdims=True), "i-softmax row sum")
    divisor = np.maximum(total, 1)
    p = int32(((e << PROBABILITY_BITS) + (divisor >> 1)) // divisor, "i-softmax probability")
    return np.clip(plan.rescale(p) + plan.zero_point, plan.lo, plan.hi)
