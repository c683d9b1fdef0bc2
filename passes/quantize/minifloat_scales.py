"""Scales of minifloat tensors: real = value(code) * scale.

"max" maps the largest magnitude onto the format's largest value (nothing clips). "mse"
tries scales from that one down to a quarter of it (geometric steps: a minifloat's
grid is logarithmic, so only the clipping point and the subnormal floor move) and keeps,
per row, the one with the smallest squared error; clipping a few outliers can buy
resolution for the bulk, as it does for integers.
"""
from __future__ import annotations

import numpy as np

from qcompiler.numerics.minifloat import MinifloatFormat, round_to_format

SCALE_METHODS = ("max", "mse")
MSE_CANDIDATES = 2.0 ** -np.linspace(0.0, 2.0, 25)


def max_scales(absmax: np.ndarray, fmt: MinifloatFormat) -> np.ndarray:
    """One scale per entry of `absmax`; an all-zero row (any scale keeps it exact) takes
    the largest row's scale, or 1 when every row is zero."""
    absmax = np.asarray(absmax, np.float64)
    zero = ~(absmax > 0)
    widest = absmax.max() if not zero.all() else fmt.max_value
    return np.where(zero, widest, absmax) / fmt.max_value


def row_scales(rows: np.ndarray, fmt: MinifloatFormat, method: str) -> np.ndarray:
    """A scale per row of `rows` [R, n] (float32 result)."""
    if method not in SCALE_METHODS:
        raise ValueError(f"minifloat scale method {method!r} is not one of {', '.join(SCALE_METHODS)}")
    rows = np.asarray(rows, np.float32)
    base = max_scales(np.abs(rows).max(axis=1), fmt)
    if method == "max":
        return base.astype(np.float32)
    best, best_err = base, np.full(len(rows), np.inf)
    for factor in MSE_CANDIDATES:
        scale = (base * factor).astype(np.float32)[:, None]
        err = ((round_to_format(rows / scale, fmt) * scale - rows) ** 2).sum(axis=1)
        better = err < best_err
        best, best_err = np.where(better, scale[:, 0], best), np.where(better, err, best_err)
    return best.astype(np.float32)
