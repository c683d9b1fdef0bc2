"""The int32 fixed-point steps the I-BERT kernels share (ibert_softmax.py, ibert_gelu.py,
ibert_layer_norm.py): bit lengths, rounding shifts and a dyadic rescale whose every
product stays below 2^31. Constants are planned in Python at compile time; at run time
only integer adds, multiplies, shifts, compares and divisions remain.

The references hold values in int64 arrays so that a bound the plans get wrong raises
(`int32`) instead of wrapping; the Numba kernels repeat the same operations.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..ir.errors import QIRError

INT32_MAX = 2**31 - 1
PRODUCT_BITS = 30  # a rescaled value, cut to `value_budget` bits, times a multiplier of the rest


class IBertError(QIRError):
    """An I-BERT kernel cannot run these parameters in int32 (named in the message)."""


def int32(a: np.ndarray, what: str) -> np.ndarray:
    """`a`, after checking that every element fits int32 (a kernel invariant)."""
    if a.size and (a.max() > INT32_MAX or a.min() < -INT32_MAX - 1):
        raise IBertError(f"I-BERT kernel: {what} leaves int32 (|value| up to {np.abs(a).max()})")
    return a


def bit_lengths(a: np.ndarray) -> np.ndarray:
    """Bits of each non-negative int32 value (0 for 0), by compares only."""
    a = np.asarray(a, np.int64)
    return sum(((a >> k) > 0).astype(np.int64) for k in range(31))


def rounding_shift(a: np.ndarray, shift) -> np.ndarray:
    """round(a / 2^shift), ties up, for shift in [0, 30] (scalar or broadcast array)."""
    shift = np.asarray(shift, np.int64)
    half = np.where(shift > 0, np.int64(1) << np.maximum(shift - 1, 0), 0)
    return (np.asarray(a, np.int64) + half) >> shift


@dataclass(frozen=True)
class Rescale:
    """v ↦ round(round(v / 2^pre) · multiplier / 2^shift) ≈ v · real for |v| < 2^value_bits:
    the value is first cut to `value_budget` bits (16 by default), the multiplier gets the
    other 30 - value_budget, so nothing exceeds 2^31. `multiplier` and `shift` are arrays
    for per-channel reals (broadcast on the last axis)."""

    pre: int
    multiplier: np.ndarray
    shift: np.ndarray

    @staticmethod
    def of(real, value_bits: int, what: str, value_budget: int = 16) -> "Rescale":
        real = np.asarray(real, np.float64)
        pre = max(0, value_bits - value_budget)
        multiplier_bits = PRODUCT_BITS - min(value_bits, value_budget)
        scaled = real * 2.0**pre
        magnitude = np.where(scaled == 0, 1.0, np.abs(scaled))
        shift = (multiplier_bits - 1) - np.floor(np.log2(magnitude)).astype(np.int64)
        if np.any(shift < 1):
            raise IBertError(f"{what}: rescale factor {float(np.abs(real).max()):.4g} is too large for int32 "
                             f"(a result step would exceed 2^{multiplier_bits - 1})")
        shift = np.minimum(shift, 30)  # a smaller factor rounds every |v| <= 2^16 to 0 or ±1 anyway
        multiplier = np.round(scaled * 2.0**shift).astype(np.int64)
        return Rescale(pre, multiplier, shift)

    def __call__(self, v: np.ndarray) -> np.ndarray:
        return rounding_shift(rounding_shift(v, self.pre) * self.multiplier, self.shift)


def bits_for(bound: float) -> int:
    """The value bits of integers bounded by `bound` in magnitude (|v| < 2^bits)."""
    return int(math.floor(math.log2(max(bound, 1.0)))) + 1
