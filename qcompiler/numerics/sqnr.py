"""Signal-to-quantization-noise ratio, the accuracy measure used across qcompiler."""
from __future__ import annotations

import math

import numpy as np


def sqnr_db(reference, approx) -> float:
    """10·log10(‖ref‖² / ‖ref − approx‖²) in decibels, computed in float64.

    Identical arrays give +inf; a zero reference with a nonzero error gives -inf;
    a NaN or shape mismatch gives -inf (the approximation lost the value entirely).
    """
    ref = np.asarray(reference, dtype=np.float64)
    out = np.asarray(approx, dtype=np.float64)
    if ref.shape != out.shape:
        return -math.inf
    noise = float(np.sum((ref - out) ** 2))
    signal = float(np.sum(ref ** 2))
    if math.isnan(noise) or math.isnan(signal):
        both_nan = np.array_equal(np.isnan(ref), np.isnan(out))
        if not both_nan:
            return -math.inf
        mask = ~np.isnan(ref)
        return sqnr_db(ref[mask], out[mask])
    if noise == 0.0:
        return math.inf
    if signal == 0.0:
        return -math.inf
    return 10.0 * math.log10(signal / noise)
