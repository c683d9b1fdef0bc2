"""I-BERT's integer GELU (Kim et al., 2021, Algorithm 2), in int32.

erf(u) ≈ L(u) = sgn(u) [a (min(|u|, -b) + b)² + 1] with a = -0.2888, b = -1.769, and
GELU(x) = x/2 · (1 + L(x/√2)). In integers at the erf input scale S_e = S/√2
(q_b = ⌊b/S_e⌋, q_c = ⌊1/(a S_e²)⌋): q_L = sgn(q) ((min(|q|, -q_b) + q_b)² + q_c) at scale
a S_e², and GELU = q · (q_L + q_1) with q_1 = ⌊1/(a S_e²)⌋ = q_c, at scale S · a S_e² / 2.

Departures, for int32 on 8-bit inputs: the erf input is brought to S_e in (2^-13, 2^-12]
by a shift (an 8-bit S_e of 0.05 would floor b to 35 steps, a 1% error in the constant);
the factor -(q_L + q_1) >= 0 is cut to 12 bits (`drop`) before it multiplies q, whose
storage has at most 16 bits; the product is rescaled to the output type.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .ibert_fixed import IBertError, Rescale, int32, rounding_shift

ERF_A, ERF_B = -0.2888, -1.769
WORK_SCALE_BITS = 12   # S_e in (2^-13, 2^-12]
FACTOR_BITS = 12       # 1 + erf cut to 12 bits
MAX_INPUT_BITS = 16


@dataclass(frozen=True)
class GeluPlan:
    upshift: int    # erf input x' = x · 2^upshift (a right shift when negative)
    cap: int        # |x| beyond it is past the clip -b in every case (in input steps)
    q_b: int        # negative
    q_c: int        # negative; also q_1
    drop: int
    rescale: Rescale
    zero_point: int
    lo: int
    hi: int

    @staticmethod
    def of(in_scale: float, in_bits: int, out_scale: float, out_zero_point: int, lo: int, hi: int) -> "GeluPlan":
        if in_bits > MAX_INPUT_BITS:
            raise IBertError(f"i-GELU: inputs of {in_bits} bits exceed {MAX_INPUT_BITS}, whose product with the "
                             f"erf factor would not fit int32")
        upshift = math.ceil(math.log2(in_scale / math.sqrt(2.0)) + WORK_SCALE_BITS)
        s_e = in_scale / math.sqrt(2.0) / 2.0**upshift
        q_b, q_c = math.floor(ERF_B / s_e), math.floor(1.0 / (ERF_A * s_e * s_e))
        drop = max(0, (-2 * q_c).bit_length() - FACTOR_BITS)
        cap = (-q_b >> upshift) + 1 if upshift >= 0 else -q_b << -upshift
        product_scale = in_scale * -ERF_A * s_e * s_e * 2.0**drop / 2.0
        rescale = Rescale.of(product_scale / out_scale, in_bits + FACTOR_BITS, "i-GELU output")
        return GeluPlan(upshift, cap, q_b, q_c, drop, rescale, int(out_zero_point), int(lo), int(hi))


def i_gelu(q: np.ndarray, plan: GeluPlan) -> np.ndarray:
    """GELU of centred int values q (int64 holding at most 16-bit values), as output storage."""
    q = np.asarray(q, np.int64)
    magnitude = np.minimum(np.abs(q), plan.cap)
    magnitude = magnitude << plan.upshift if plan.upshift >= 0 else rounding_shift(magnitude, -plan.upshift)
    t = int32(np.minimum(magnitude, -plan.q_b) + plan.q_b, "i-GELU clipped input")
    erf = np.sign(q) * int32(t * t + plan.q_c, "i-GELU erf")
    factor = int32(-(erf + plan.q_c), "i-GELU 1 + erf") >> plan.drop
    return np.clip(plan.rescale(int32(q * factor, "i-GELU product")) + plan.zero_point, plan.lo, plan.hi)
