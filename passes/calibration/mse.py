"""Minimum mean squared error (MMSE) clipping: the range minimising E[(x − Q(x))²].

Activations: the expectation is taken over a streaming histogram, each non-empty bin
standing for a few evenly spaced points inside it (so rounding error within a bin is
averaged rather than measured at one centre). A clipped range is kept only where it
lowers the activation's error by at least `min_gain_db` against min/max: clipping
trades rounding noise, which is independent from value to value, for a distortion of the
largest values, which is not, and its tail is estimated from the calibration samples
alone. On the light-zoo CNNs the local gains are small (SqueezeNet: all under 0.8 dB,
DenseNet121: up to 2.6 dB) and the clips cost the logits 1.9 dB (SqueezeNet) and 2.3 dB
(DenseNet121, 1.4 dB with a 1 dB threshold; bench/RESULTS.md, "Light zoo"); a rare outlier
gains far more than 3 dB and keeps its clip (tests/passes/calibration/test_mse_clip_gain.py).
Weights: exactly, over every element, per tensor or per channel (`mse_range_exact`). The
same trade holds: a channel keeps its clip only where it lowers that channel's error by
`WEIGHT_MIN_GAIN_DB` against min/max. At 8 bits the clips of seeded He-normal light-zoo
weights gain a median 0.00 dB and at most 1.6 dB (no channel reaches 1 dB on SqueezeNet),
yet cost SqueezeNet's output 1.9 dB; at 4 bits they gain a median 1.7 dB (78% of channels
at least 1 dB) and are worth 2.5 dB at the output, at 2 bits 6.5 dB: those are kept."""
from __future__ import annotations

from typing import Optional

import numpy as np

from .observer import HistogramObserver
from .quant_error import candidate_mse
from .range_search import search_range

POINTS_PER_BIN = 4
# the least gain (dB of activation MSE against min/max) for which a clip is kept
MIN_GAIN_DB = 3.0
# the same for a weight channel: its statistics are exact, not estimated from a sample
WEIGHT_MIN_GAIN_DB = 1.0


class MSEObserver(HistogramObserver):
    def __init__(self, bins: int = 2048, min_gain_db: float = MIN_GAIN_DB):
        super().__init__(bins)
        self.min_gain_db = min_gain_db

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
        if not _gains_enough(error, (lo, hi), (best_lo[0], best_hi[0]), self.min_gain_db):
            return lo, hi
        return float(best_lo[0]), float(best_hi[0])


def _gains_enough(error, observed: tuple, clipped: tuple, min_gain_db: float) -> bool:
    """Whether the clipped range's error is at least `min_gain_db` below the observed one's."""
    if min_gain_db <= 0.0:
        return True
    errors = error(np.array([[observed[0]], [clipped[0]]]), np.array([[observed[1]], [clipped[1]]]))[:, 0]
    return bool(errors[1] * 10.0 ** (min_gain_db / 10.0) <= errors[0])


def mse_range_exact(array, bits: int, symmetric: bool, axis: Optional[int] = None,
                    min_gain_db: float = WEIGHT_MIN_GAIN_DB) -> tuple:
    """MMSE range of a whole tensor (floats) or of each slice along `axis` (arrays); a
    slice whose clip gains less than `min_gain_db` keeps its min/max range."""
    a = np.asarray(array, np.float32)
    rows = a.reshape(1, -1) if axis is None else np.moveaxis(a, axis, 0).reshape(a.shape[axis], -1)

    def error(lo_c, hi_c):
        return candidate_mse(rows, lo_c, hi_c, bits, symmetric)

    observed = rows.min(axis=1).astype(np.float64), rows.max(axis=1).astype(np.float64)
    lo, hi = search_range(error, *observed, symmetric)
    if min_gain_db > 0.0:
        errors = error(np.stack([observed[0], lo]), np.stack([observed[1], hi]))
        keep = errors[1] * 10.0 ** (min_gain_db / 10.0) <= errors[0]
        lo, hi = np.where(keep, lo, observed[0]), np.where(keep, hi, observed[1])
    return (float(lo[0]), float(hi[0])) if axis is None else (lo, hi)
