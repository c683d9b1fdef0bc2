"""Entropy (KL-divergence) calibration, as in TensorRT's INT8 calibrator.

For every candidate threshold (a bin edge of a fine histogram of |x|), the reference
distribution P is the histogram up to the threshold with the clipped tail folded into
its last bin; Q is that histogram (without the tail) merged into as many bins as the
quantizer has levels on one side and expanded back uniformly over the non-empty bins.
The threshold minimising KL(P‖Q) wins. Exact zeros (half of a ReLU output) are left out:
zero is exactly representable, and a spike in the first bin would otherwise drag the
threshold down to keep the spike's merged bin narrow. Thresholds that would clip more
than 1% of the values are not candidates: KL favours them on zero-heavy data (a spike
near 0 dominates P), and below the data P and Q are one identical spike (KL = 0), which
collapsed ranges onto their edge.

Symmetric ranges search |x| with 2^(bits−1) levels. An asymmetric quantizer clips each
side with that side's share of the 2^bits levels; a tensor of one sign (a ReLU output)
gets all levels, over the span from its smallest magnitude (a LayerNorm's standard
deviation in [0.56, 1.6] is searched from 0.56, not from 0).
"""
from __future__ import annotations

import numpy as np

from .observer import HistogramObserver

SMOOTHING = 1e-4
# KL never clips more than 1% of the (nonzero) values: it keeps at least this share
MIN_KEPT_SHARE = 0.99


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
    floor = int(np.searchsorted(np.cumsum(counts), MIN_KEPT_SHARE * tails[0])) + 1
    best_i, best_kl = n, np.inf
    for i in range(max(levels, floor), n + 1):
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
        if symmetric:
            abs_counts = h.folded()
            abs_counts[0] -= h.exact_zeros
            if abs_counts.sum() == 0:
                return lo, hi
            return self.clip_symmetric(kl_threshold_bins(abs_counts, 2 ** (bits - 1)) * h.width)
        return self._asymmetric(lo, hi, bits)

    def _asymmetric(self, lo: float, hi: float, bits: int) -> tuple:
        """An asymmetric grid spends its 2^bits levels on [lo, hi]: each side is searched
        with its share of them (a HardSwish output in [-0.375, 5.7] has nearly every
        level on the positive side, not the 128 of a symmetric search, which clipped it
        to 1.0 and cost PP-OCRv4 rec most of its lines)."""
        h, z = self.histogram, self.histogram.zero_bin
        clipped = [lo, hi]
        for positive in (True, False):
            extent = hi if positive else -lo
            side = h.counts[z:].copy() if positive else h.counts[:z][::-1].copy()  # bins of |x| on that side
            if positive:
                side[0] -= h.exact_zeros
            if extent <= 0 or side.sum() == 0:
                continue
            side = side[:np.nonzero(side)[0][-1] + 1]
            if (lo >= 0) if positive else (hi <= 0):
                # one sign: the grid starts at the values nearest 0, not at 0, so search
                # from the first non-empty bin
                start, levels = int(np.argmax(side > 0)), 2 ** bits
            else:
                start, levels = 0, max(2, round(2 ** bits * extent / (hi - lo)))
            t = (start + kl_threshold_bins(side[start:], levels)) * h.width
            clipped[positive] = min(hi, t) if positive else max(lo, -t)
        return tuple(clipped)
