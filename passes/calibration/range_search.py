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
    """Per channel, the factor minimising `objective` (start kept unless beaten)."""
    best_f, best_err = start.copy(), objective(start)
    coarse_best = np.zeros(start.shape, np.int64)
    coarse_err = np.full(start.shape, np.inf)
    for k, f in enumerate(COARSE):
        err = objective(np.full(start.shape, f))
        better = err < coarse_err
        coarse_best[better], coarse_err[better] = k, err[better]
    lo = COARSE[np.maximum(coarse_best - 1, 0)]
    hi = COARSE[np.minimum(coarse_best + 1, len(COARSE) - 1)]
    for f in (lo + t * (hi - lo) for t in np.linspace(0.0, 1.0, REFINE_POINTS)):
        err = objective(f)
        better = err < best_err
        best_f[better], best_err[better] = f[better], err[better]
    return best_f


def _ratio(part: np.ndarray, whole: np.ndarray) -> np.ndarray:
    return np.where(whole != 0, part / np.where(whole != 0, whole, 1.0), 1.0)


def search_range(error: ErrorFn, lo, hi, symmetric: bool) -> tuple:
    """The (lo, hi) per channel within the observed (lo, hi) minimising `error`."""
    lo = np.minimum(np.asarray(lo, np.float64), 0.0)
    hi = np.maximum(np.asarray(hi, np.float64), 0.0)
    shape = lo.shape
    lo, hi = lo.reshape(-1), hi.reshape(-1)
    bound = np.maximum(-lo, hi)

    def clipped(f):
        return np.maximum(lo, -f * bound), np.minimum(hi, f * bound)

    out_lo, out_hi = clipped(_best_factor(lambda f: error(*clipped(f)), np.ones(lo.shape)))
    if not symmetric:
        # then each side on its own; the common threshold first, because alternating
        # from min/max alone stalls on a lopsided optimum when both tails have outliers
        for _ in range(ASYMMETRIC_ROUNDS):
            out_hi = hi * _best_factor(lambda f: error(out_lo, f * hi), _ratio(out_hi, hi))
            out_lo = lo * _best_factor(lambda f: error(f * lo, out_hi), _ratio(out_lo, lo))
    return out_lo.reshape(shape), out_hi.reshape(shape)
