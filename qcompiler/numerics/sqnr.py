"""Signal-to-quantization-noise ratio, the accuracy measure used across qcompiler."""
from __future__ import annotations

import math

import numpy as np


def sqnr_db(reference, approx) -> float:
    """10·log10(‖ref‖² / ‖ref − approx‖²) in decibels, computed in float64.

    Identical arrays give +inf; a zero reference with a nonzero error gives -inf; so
    does a shape mismatch. Non-finite entries (NaN, ±inf) must agree exactly (NaN with
    NaN, inf with the same inf) and are then left out; any that differ give -inf.
    """
    ref = np.asarray(reference, dtype=np.float64)
    out = np.asarray(approx, dtype=np.float64)
    if ref.shape != out.shape:
        return -math.inf
    finite = np.isfinite(ref) & np.isfinite(out)
    if not finite.all():
        agree = (ref == out) | (np.isnan(ref) & np.isnan(out))
        if not agree[~finite].all():
            return -math.inf
        ref, out = ref[finite], out[finite]
    noise = float(np.sum((ref - out) ** 2))
    signal = float(np.sum(ref ** 2))
    if noise == 0.0:
        return math.inf
    if signal == 0.0:
        return -math.inf
    return 10.0 * math.log10(signal / noise)
