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

# error(lo[K, C], hi[K, C]) -> err[K, C]: K candidate ranges per channel at once
ErrorFn = Callable[[np.ndarray, np.ndarray], np.ndarray]

COARSE = np.geomspace(1e-3, 1.0, 40)
REFINE_POINTS = 12
ASYMMETRIC_ROUNDS = 2


def _best_factor(objective: Callable[[np.ndarray], np.ndarray], start: np.ndarray) -> np.ndarray:
    """Per channel, the factor minimising `objective` (start kept unless beaten; of equal
    errors the first candidate wins, as in a scan accepting strict improvements only)."""
    channels = np.arange(start.size)
    coarse_best = np.argmin(objective(np.repeat(COARSE[:, None], start.size, axis=1)), axis=0)
    lo = COARSE[np.maximum(coarse_best - 1, 0)]
    hi = COARSE[np.minimum(coarse_best + 1, len(COARSE) - 1)]
    fine = lo + np.linspace(0.0, 1.0, REFINE_POINTS)[:, None] * (hi - lo)
    err = objective(fine)
    best = np.argmin(err, axis=0)
    better = err[best, channels] < objective(start[None])[0]
    return np.where(better, fine[best, channels], start)


def _ratio(part: np.ndarray, whole: np.ndarray) -> np.ndarray:
    return np.where(whole != 0, part / np.where(whole != 0, whole, 1.0), 1.0)


def search_range(error: ErrorFn, lo, hi, symmetric: bool) -> tuple:
    """The (lo, hi) per channel within the observed (lo, hi) minimising `error`."""
    lo = np.minimum(np.asarray(lo, np.float64), 0.0)
    hi = np.maximum(np.asarray(hi, np.float64), 0.0)
    shape = lo.shape
    lo, hi = lo.reshape(-1), hi.reshape(-1)
    bound = np.maximum(-lo, hi)

    def candidates(lo_c, hi_c):
        return error(*np.broadcast_arrays(lo_c, hi_c))

    def clipped(f):
        return np.maximum(lo, -f * bound), np.minimum(hi, f * bound)

    out_lo, out_hi = clipped(_best_factor(lambda f: candidates(*clipped(f)), np.ones(lo.shape)))
    if not symmetric:
        # then each side on its own; the common threshold first, because alternating
        # from min/max alone stalls on a lopsided optimum when both tails have outliers
        for _ in range(ASYMMETRIC_ROUNDS):
            out_hi = hi * _best_factor(lambda f: candidates(out_lo, f * hi), _ratio(out_hi, hi))
            out_lo = lo * _best_factor(lambda f: candidates(f * lo, out_hi), _ratio(out_lo, lo))
    return out_lo.reshape(shape), out_hi.reshape(shape)
