"""Requantization into binary (b1) storage: an integer threshold on the accumulator.

b1 holds -1 or +1; with scale s and zero point zp (0: the levels ±s, XNOR-Net's sign(x)·α;
-1: the levels 0 and 2s, a ReLU output in one bit) a real x is stored as +1 when it reaches
the midpoint of the two levels, x >= -zp·s (numerics/affine.py). A product's result
x = acc · M · s_out with M = multiplier · 2^-shift, so +1 exactly when
acc · multiplier >= -zp · 2^shift, i.e. acc >= ceil(-zp · 2^shift / multiplier): one
integer threshold per output channel, with no rounding (the requantization's rounding
mode does not apply; a clamp narrower than [-1, 1] still applies after it).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..ir.types import QuantType
from .accumulator_bias import accumulator_scale

INT64 = np.iinfo(np.int64)


def binary_thresholds(multiplier, shift, zero_point: int) -> np.ndarray:
    """int64 T per channel: the result is +1 exactly where acc >= T."""
    multiplier, shift = np.broadcast_arrays(np.asarray(multiplier).reshape(-1), np.asarray(shift).reshape(-1))
    out = np.empty(multiplier.shape, np.int64)
    for c, (m, s) in enumerate(zip(multiplier.tolist(), shift.tolist())):
        target = -int(zero_point) << int(s)       # Python integers: exact for any shift
        if m == 0:                                # M = 0: every accumulator maps to 0
            t = INT64.min if 0 >= target else INT64.max
        else:
            t = -((-target) // int(m))            # ceil(target / m), m > 0
        out[c] = min(max(t, INT64.min), INT64.max)
    return out


def binarize(acc: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """±1 (int32) of accumulators `acc` against thresholds already broadcast to them."""
    return np.where(np.asarray(acc, np.int64) >= thresholds, 1, -1).astype(np.int32)


def accumulator_type(x: QuantType, w_scale, out: QuantType, op: str) -> Optional[QuantType]:
    """The i32 grid (scale s_x · s_w per output channel, zero point 0) of the accumulator behind a
    product's result `out`, in the result's shape: what the simulation rounds a float product to
    before thresholding it; None when the weight has no scale the accumulator counts in."""
    if w_scale is None:
        return None
    scale = accumulator_scale(x.scale.array.reshape(-1)[0], w_scale)
    if scale.size == 1:
        return QuantType("i32", out.expressed, out.shape, scale.reshape(()), np.int32(0))
    axis = 1 if op.startswith("conv") else len(out.shape) - 1
    return QuantType("i32", out.expressed, out.shape, scale, np.zeros(scale.size, np.int32), axis=axis)
