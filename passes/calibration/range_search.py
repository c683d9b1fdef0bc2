"""Search for the clipping range that minimises a quantization error, per channel.

Ranges are shrunk from the observed [min, max] by factors in (0, 1]: a geometric
coarse grid (clipping optima for heavy tails lie far below the max, so relative
resolution matters) refined linearly between the best point's neighbours. Asymmetric
ranges shrink each side by its own factor, by alternating one-dimensional searches.
The search starts at the min/max range and accepts only strict improvements, so the
result is never worse than min/max.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

# error(lo[C], hi[C]) -> err[C]
ErrorFn = Callable[[np.ndarray, np.ndarray], np.ndarray]

COARSE = np.geomspace(1e-3, 1.0, 40)
REFINE_POINTS = 12
ASYMMETRIC_ROUNDS = 2


def _best_factor(objective: Callable[[np.ndarray], np.ndarray], start: np.ndarray) -> np.ndarray:
    best_f = start.copy()
    best_err = objective(best_f)

    def consider(f: np.ndarray) -> None:
        err = objective(f)
        better = err < best_err
        best_f[better], best_err[better] = f[better], err[better]

    coarse_best = np.zeros(start.shape, np.int64)
    coarse_err = np.full(start.shape, np.inf)
    for k, f in enumerate(COARSE):
        err = objective(np.full(start.shape, f))
        better = err < coarse_err
        coarse_best[better], coarse_err[better] = k, err[better]
    lo = COARSE[np.maximum(coarse_best - 1, 0)]
    hi = COARSE[np.minimum(coarse_best + 1, len(COARSE) - 1)]
    for t in np.linspace(0.0, 1.0, REFINE_POINTS):
        consider(lo + t * (hi - lo))
    return best_f


def search_range(error: ErrorFn, lo, hi, symmetric: bool) -> tuple:
    """The (lo, hi) per channel within the observed (lo, hi) minimising `error`."""
    lo = np.minimum(np.asarray(lo, np.float64), 0.0)
    hi = np.maximum(np.asarray(hi, np.float64), 0.0)
    shape = lo.shape
    lo, hi = lo.reshape(-1), hi.reshape(-1)
    ones = np.ones(lo.shape)
    if symmetric:
        bound = np.maximum(-lo, hi)

        def clipped(f):
            return np.maximum(lo, -f * bound), np.minimum(hi, f * bound)

        f = _best_factor(lambda f: error(*clipped(f)), ones)
        out_lo, out_hi = clipped(f)
    else:
        # a common threshold first: alternating from min/max alone can stall on a
        # lopsided optimum when both tails carry outliers
        bound = np.maximum(-lo, hi)
        f = _best_factor(lambda f: error(np.maximum(lo, -f * bound), np.minimum(hi, f * bound)), ones)
        a = np.maximum(lo, -f * bound) / np.where(lo < 0, lo, -1.0)
        b = np.minimum(hi, f * bound) / np.where(hi > 0, hi, 1.0)
        a, b = np.where(lo < 0, a, 1.0), np.where(hi > 0, b, 1.0)
        for _ in range(ASYMMETRIC_ROUNDS):
            b = _best_factor(lambda f: error(a * lo, f * hi), b)
            a = _best_factor(lambda f: error(f * lo, b * hi), a)
        out_lo, out_hi = a * lo, b * hi
    return out_lo.reshape(shape), out_hi.reshape(shape)
