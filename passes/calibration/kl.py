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

KL measures the shape of the distribution, not the size of what clipping moves: on heavy
tails that carry the signal (a variance's squared deviations and a residual stream's
outlier channels before rec's LayerNorms were fused, the large HardSwish outputs of its
conv backbone after) it clipped to a third to a half of the range, and PP-OCRv4 rec read
40-47% of lines at width 320 (fp32 86%). So clipping is bounded by its squared error: a
threshold whose clipping plus rounding error exceeds the rounding error of the unclipped
range is raised to the lowest one that does not (`unclipped_error_floor`), whatever its
divergence (rec at width 320: 76%). Clipping a rare, small tail still pays; clipping
values a downstream sum, mean or variance is made of does not.

Symmetric ranges search |x| with 2^(bits−1) levels. An asymmetric quantizer clips each
side with that side's share of the 2^bits levels; a tensor of one sign (a ReLU output)
gets all levels, over the span from its smallest magnitude (a LayerNorm's standard
deviation in [0.56, 1.6] is searched from 0.56, not from 0).
"""
from __future__ import annotations

import math

import numpy as np

from .lazy_jit import lazy_njit
from .observer import HistogramObserver

SMOOTHING = 1e-4
# the error bound on clipping: each bin stands for this many values; thresholds tried
POINTS_PER_BIN, FLOOR_CANDIDATES = 4, 64
# KL never clips more than 1% of the (nonzero) values: it keeps at least this share
MIN_KEPT_SHARE = 0.99


@lazy_njit
def _divergences(counts, levels, first):
    """KL(P‖Q) for each candidate threshold i in [first, len(counts)] bins (inf where
    the kept bins are all empty). P: counts[:i] with the clipped tail added to its last
    bin; Q: counts[:i] merged into `levels` groups of i // levels bins (the last one
    takes the remainder) and spread evenly over each group's non-empty bins. Both
    smoothed, then normalised. Counts are whole numbers, so their sums are exact, and
    the empty bins of P and Q contribute one and the same term each: a logarithm is
    taken per non-empty bin only."""
    n = counts.size
    out = np.full(n + 1 - first, np.inf)
    cumulative = np.cumsum(counts)
    total = cumulative[-1]
    empty_before = np.concatenate((np.zeros(1, np.int64), np.cumsum(counts == 0)))  # in counts[:j]
    filled_bins = np.nonzero(counts)[0]
    for i in range(first, n + 1):
        step, kept = i // levels, cumulative[i - 1]
        if kept == 0:
            continue
        last = counts[i - 1] + total - kept  # P's last bin takes the tail
        q_empty = empty_before[i]
        p_empty = q_empty - (counts[i - 1] == 0) + (last == 0)
        # smoothing: each empty bin gets SMOOTHING, taken evenly from the non-empty ones (KL
        # stays finite; a non-empty bin holds at least 1, far above it); -1: nothing smoothed
        p_eps = SMOOTHING * p_empty / (i - p_empty) if 0 < p_empty < i else -1.0
        q_eps = SMOOTHING * q_empty / (i - q_empty) if 0 < q_empty < i else -1.0
        # the smoothing moves mass between bins, so the sums stay the raw ones up to rounding
        p_sum = total if p_eps < 0 else total - p_eps * (i - p_empty) + SMOOTHING * p_empty
        q_sum = kept if q_eps < 0 else kept - q_eps * (i - q_empty) + SMOOTHING * q_empty
        p_shift, q_shift = max(p_eps, 0.0), max(q_eps, 0.0)
        p_of_empty = (SMOOTHING if p_eps >= 0 else 0.0) / p_sum
        q_of_empty = (SMOOTHING if q_eps >= 0 else 0.0) / q_sum
        kl, k = 0.0, 0
        for g in range(levels):  # non-empty bins before the last one
            lo, hi = g * step, (i if g == levels - 1 else (g + 1) * step)
            filled = (hi - lo) - (empty_before[hi] - empty_before[lo])
            q = q_of_empty
            if filled:
                q = ((cumulative[hi - 1] - (cumulative[lo - 1] if lo else 0.0)) / filled - q_shift) / q_sum
            end = min(hi, i - 1)
            while k < filled_bins.size and filled_bins[k] < end:
                p = (counts[filled_bins[k]] - p_shift) / p_sum
                kl += p * math.log(p / q)
                k += 1
            if hi == i:  # the last bin: P's holds the tail
                p = (SMOOTHING if last == 0 else last - p_shift) / p_sum if p_eps >= 0 else last / p_sum
                if p > 0:
                    kl += p * math.log(p / (q if counts[i - 1] != 0 else q_of_empty))
        empty = empty_before[i - 1]  # empty bins before the last one
        if empty and p_of_empty > 0:
            kl += empty * p_of_empty * math.log(p_of_empty / q_of_empty)
        out[i - first] = kl
    return out


def unclipped_error_floor(counts: np.ndarray, levels: int, lowest: int) -> int:
    """The fewest leading bins of `counts` (a histogram of |x| from 0), at least `lowest`,
    from which on every threshold's squared error — clipped values moved to the
    threshold, kept ones rounded to its grid of `levels` steps, each bin standing for
    POINTS_PER_BIN evenly spaced values — is at most that of keeping every bin.
    FLOOR_CANDIDATES thresholds evenly spaced in [lowest, n] are tried."""
    counts = np.asarray(counts, np.float64)
    n = len(counts)
    offsets = (np.arange(POINTS_PER_BIN) + 0.5) / POINTS_PER_BIN
    points = (np.arange(n)[:, None] + offsets[None, :]).ravel()  # in bin widths
    weights = np.repeat(counts / POINTS_PER_BIN, POINTS_PER_BIN)
    thresholds = np.unique(np.linspace(lowest, n, FLOOR_CANDIDATES).round())[:, None]
    step = thresholds / levels
    grid = np.minimum(np.round(points[None, :] / step), levels) * step  # clipped values land on the threshold
    errors = ((points[None, :] - grid) ** 2 * weights[None, :]).sum(axis=1)
    too_costly = np.nonzero(errors > errors[-1] * (1 + 1e-9))[0]
    return int(thresholds[too_costly[-1] + 1, 0]) if too_costly.size else lowest


def kl_threshold_bins(counts: np.ndarray, levels: int) -> int:
    """How many leading bins of `counts` (a histogram of |x| from 0) to keep: of the
    candidates keeping at least MIN_KEPT_SHARE of the mass, the first of least KL."""
    n = len(counts)
    if n <= levels:
        return n
    counts = np.ascontiguousarray(counts, np.float64)
    floor = int(np.searchsorted(np.cumsum(counts), MIN_KEPT_SHARE * counts.sum())) + 1
    first = max(levels, floor)
    if first > n:
        return n
    kl = _divergences(counts, levels, first)
    kl[np.isnan(kl)] = np.inf  # a NaN divergence never wins, as in a scan keeping strict improvements
    best = int(np.argmin(kl))
    return first + best if kl[best] < np.inf else n


def bounded_threshold_bins(counts: np.ndarray, levels: int) -> int:
    """KL's threshold, raised to where clipping costs no more error than not clipping."""
    return unclipped_error_floor(counts, levels, kl_threshold_bins(counts, levels))


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
            return self.clip_symmetric(bounded_threshold_bins(abs_counts, 2 ** (bits - 1)) * h.width)
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
            t = (start + bounded_threshold_bins(side[start:], levels)) * h.width
            clipped[positive] = min(hi, t) if positive else max(lo, -t)
        return tuple(clipped)
