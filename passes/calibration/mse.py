"""Minimum mean squared error (MMSE) clipping: the range minimising E[(x − Q(x))²].

Activations: the expectation is taken over a streaming histogram, each non-empty bin
standing for a few evenly spaced points inside it (so rounding error within a bin is
averaged rather than measured at one centre). Weights: exactly, over every element,
per tensor or per channel (`mse_range_exact`)."""
from __future__ import annotations

from typing import Optional

import numpy as np

from .observer import HistogramObserver
from .quant_error import candidate_mse
from .range_search import search_range

POINTS_PER_BIN = 4


class MSEObserver(HistogramObserver):
    def range(self, bits: int = 8, symmetric: bool = False) -> tuple:
        lo, hi = self.observed()
        h = self.histogram
        if h.width == 0.0:
            return lo, hi
        filled = np.nonzero(h.counts)[0]
        offsets = (np.arange(POINTS_PER_BIN) + 0.5) / POINTS_PER_BIN
        points = h.lo_edge + (filled[:, None] + offsets[None, :]) * h.width
        points = np.clip(points, lo, hi).astype(np.float32).reshape(1, -1)  # as candidate_mse reads them
        weights = np.repeat(h.counts[filled] / POINTS_PER_BIN, POINTS_PER_BIN)

        def error(lo_c, hi_c):
            return candidate_mse(points, lo_c, hi_c, bits, symmetric, weights)

        best_lo, best_hi = search_range(error, np.array([lo]), np.array([hi]), symmetric)
        return float(best_lo[0]), float(best_hi[0])


def mse_range_exact(array, bits: int, symmetric: bool, axis: Optional[int] = None) -> tuple:
    """MMSE range of a whole tensor (floats) or of each slice along `axis` (arrays)."""
    a = np.asarray(array, np.float32)
    rows = a.reshape(1, -1) if axis is None else np.moveaxis(a, axis, 0).reshape(a.shape[axis], -1)

    def error(lo_c, hi_c):
        return candidate_mse(rows, lo_c, hi_c, bits, symmetric)

    lo, hi = search_range(error, rows.min(axis=1), rows.max(axis=1), symmetric)
    return (float(lo[0]), float(hi[0])) if axis is None else (lo, hi)
