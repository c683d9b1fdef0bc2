"""Entropy (KL-divergence) calibration, as in TensorRT's INT8 calibrator.

For every candidate threshold (a bin edge of a fine histogram of |x|), the reference
distribution P is the histogram up to the threshold with the clipped tail folded into
its last bin; Q is that histogram (without the tail) merged into as many bins as the
quantizer has levels on one side and expanded back uniformly over the non-empty bins.
The threshold minimising KL(P‖Q) wins. Exact zeros (half of a ReLU output) are left out:
zero is exactly representable, and a spike in the first bin would otherwise drag the
threshold down to keep the spike's merged bin narrow. Symmetric and two-signed ranges search |x|
with 2^(bits−1) levels; a tensor of one sign (a ReLU output) under an asymmetric
quantizer gets all 2^bits levels on that side, over the span from its smallest magnitude
(a LayerNorm's standard deviation in [0.56, 1.6] is searched from 0.56, not from 0).
"""
from __future__ import annotations

import numpy as np

from .observer import HistogramObserver

SMOOTHING = 1e-4


def _smooth(p: np.ndarray) -> np.ndarray:
    """Give empty bins of a count vector a little mass taken from the others so KL
    stays finite (the counts of non-empty bins are >= 1/levels, far above it)."""
    zero = p == 0
    n_zero, n_nonzero = int(zero.sum()), int(p.size - zero.sum())
    if n_zero == 0 or n_nonzero == 0:
        return p
    eps1 = SMOOTHING * n_zero / n_nonzero
    return p + SMOOTHING * zero - eps1 * ~zero


def _kl(p: np.ndarray, q: np.ndarray) -> float:
    """KL(P‖Q) of two count vectors (smoothed as counts, then normalised)."""
    p, q = _smooth(p), _smooth(q)
    p, q = p / p.sum(), q / q.sum()
    mask = p > 0
    return float(np.sum(p[mask] * np.log(p[mask] / q[mask])))


def kl_threshold_bins(counts: np.ndarray, levels: int) -> int:
    """How many leading bins of `counts` (a histogram of |x| from 0) to keep."""
    n = len(counts)
    if n <= levels:
        return n
    tails = np.concatenate([np.cumsum(counts[::-1])[::-1], [0.0]])  # tails[i] = sum(counts[i:])
    best_i, best_kl = n, np.inf
    for i in range(levels, n + 1):
        sliced = counts[:i]
        p = sliced.copy()
        p[-1] += tails[i]
        group = np.minimum(np.arange(i) // (i // levels), levels - 1)
        nonzero = sliced != 0
        merged = np.bincount(group, weights=sliced, minlength=levels)
        spread = np.bincount(group, weights=nonzero, minlength=levels)
        q = np.where(nonzero, merged[group] / np.maximum(spread[group], 1), 0.0)
        if q.sum() == 0:
            continue
        kl = _kl(p, q)
        if kl < best_kl:
            best_i, best_kl = i, kl
    return best_i


class KLObserver(HistogramObserver):
    def range(self, bits: int = 8, symmetric: bool = False) -> tuple:
        lo, hi = self.observed()
        h = self.histogram
        if h.width == 0.0:
            return lo, hi
        abs_counts = h.folded()
        abs_counts[0] -= h.exact_zeros
        if abs_counts.sum() == 0:
            return lo, hi
        if not symmetric and (lo >= 0 or hi <= 0):  # one sign: every level on that side
            # the asymmetric grid starts at the values nearest 0, not at 0: search from the
            # first non-empty bin (from 0, every threshold below the data folds it all into
            # one bin where P and Q agree, KL = 0, and the range collapsed onto its edge)
            start = int(np.argmax(abs_counts > 0))
            t = (start + kl_threshold_bins(abs_counts[start:], 2 ** bits)) * h.width
            return (lo, min(hi, t)) if lo >= 0 else (max(lo, -t), hi)
        return self.clip_symmetric(kl_threshold_bins(abs_counts, 2 ** (bits - 1)) * h.width)
