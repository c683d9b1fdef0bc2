"""A fixed-size streaming histogram whose range grows with the data.

Memory is `bins` counts whatever the number of samples. The layout is canonical: the
bin width is the smallest power of two that fits the running [min, max] (widened to
include 0) into `bins` bins whose edges are multiples of the width. So
- zero is always a bin edge, and the histogram of |x| is an exact fold of it;
- when the range grows, the width doubles some number of times and old bins merge
  exactly into new ones (x / 2^e is exact, so a sample's bin never depends on when it
  arrived): feeding data in chunks gives exactly the counts of feeding it at once.
"""
from __future__ import annotations

import math

import numpy as np

from .lazy_jit import lazy_njit


class NonFiniteData(ValueError):
    """The data holds NaN or Inf."""


@lazy_njit
def _observe(counts, x, inverse, zero_bin):
    """One pass over x: (min, max, exact zeros, all finite, all binned). Bins x into
    `counts` (int64) at floor(x / width) + zero_bin, dividing in float64 by multiplying
    with the power of two 1 / width (exact), if every value falls in its bins; with
    fewer than all, `counts` is to be discarded (empty `counts`: extremes only)."""
    lo, hi, zeros, finite, binned = math.inf, -math.inf, 0, True, True
    for v in x:
        lo = min(lo, v)
        hi = max(hi, v)
        zeros += v == 0
        if v - v != 0:  # NaN or Inf
            finite = False
        b = math.floor(np.float64(v) * inverse) + zero_bin
        if 0 <= b < counts.size:  # False for NaN
            counts[np.intp(b)] += 1
        else:
            binned = False
    return lo, hi, zeros, finite, binned


class StreamingHistogram:
    def __init__(self, bins: int = 2048):
        if bins < 2:
            raise ValueError(f"a histogram needs at least 2 bins, got {bins}")
        self.bins = bins
        self.counts = np.zeros(bins, np.float64)
        self.width = 0.0     # 0 until data other than exact zeros arrives
        self.zero_bin = 0    # index of the bin whose left edge is 0
        self.zeros_before_layout = 0
        self.exact_zeros = 0  # counted in the bin at zero too; quantizers represent 0 exactly
        self.min = math.inf  # exact running extremes
        self.max = -math.inf

    @property
    def total(self) -> float:
        return float(self.counts.sum()) + self.zeros_before_layout

    @property
    def lo_edge(self) -> float:
        return -self.zero_bin * self.width

    def update(self, x) -> None:
        x = np.asarray(x)
        x = (x if x.dtype in (np.float32, np.float64) else x.astype(np.float64)).reshape(-1)
        if x.size == 0:
            return
        # one pass when the layout holds the batch (nearly always), two when it grows
        counts = np.zeros(self.bins if self.width else 0, np.int64)
        dmin, dmax, zeros, finite, binned = _observe(counts, x, 1.0 / self.width if self.width else 0.0,
                                                     self.zero_bin)
        if not finite:
            raise NonFiniteData("histogram data contains NaN or Inf")
        self.min, self.max = min(self.min, float(dmin)), max(self.max, float(dmax))
        self.exact_zeros += int(zeros)
        if self.min == self.max == 0.0:
            self.zeros_before_layout += x.size
            return
        if not binned:
            self._relayout()
            counts = np.zeros(self.bins, np.int64)
            _observe(counts, x, 1.0 / self.width, self.zero_bin)
        # counts binned in the old layout merge exactly into a grown one
        self.counts += counts
        self._relayout()

    def _layout_for(self, lo: float, hi: float) -> tuple:
        """(width, zero_bin) of the canonical layout covering [lo, hi] ∋ 0."""
        e = math.frexp((hi - lo) / self.bins)[1]  # 2**e >= (hi - lo) / bins
        while True:
            w = math.ldexp(1.0, e)
            neg, pos = math.ceil(-lo / w), math.floor(hi / w) + 1
            if neg + pos <= self.bins:
                return w, neg
            e += 1

    def _relayout(self) -> None:
        width, zero_bin = self._layout_for(min(self.min, 0.0), max(self.max, 0.0))
        if (width, zero_bin) == (self.width, self.zero_bin):
            return
        if self.width == 0.0:
            self.counts[zero_bin] += self.zeros_before_layout
            self.zeros_before_layout = 0
        else:
            filled = np.nonzero(self.counts)[0]
            ratio = round(width / self.width)  # a power of two >= 1
            # for ratio >= bins every old bin lands next to 0, as floor division by bins says
            target = zero_bin + (filled - self.zero_bin) // min(ratio, self.bins)
            self.counts = np.bincount(target, weights=self.counts[filled], minlength=self.bins)
        self.width, self.zero_bin = width, zero_bin

    def folded(self) -> np.ndarray:
        """Counts of |x| in bins [i·width, (i+1)·width), up to the last non-empty bin."""
        z = self.zero_bin
        n = max(z, self.bins - z)
        out = np.zeros(n)
        out[:self.bins - z] += self.counts[z:]
        out[:z] += self.counts[:z][::-1]
        out[0] += self.zeros_before_layout
        nonzero = np.nonzero(out)[0]
        return out[:nonzero[-1] + 1] if nonzero.size else out[:1]

    def quantile(self, q: float) -> float:
        """The q-quantile (0 ≤ q ≤ 1) of the data, to one bin: the outer edge of the bin
        holding it (left for q < 0.5, right otherwise), so a clipping range built from
        quantiles never cuts into that bin and a lower quantile inside the bin of zeros
        (ReLU outputs) is exactly 0."""
        if self.width == 0.0:
            return 0.0
        edge = bin_of_quantile(self.counts, q) + (q >= 0.5)
        return min(max(self.lo_edge + edge * self.width, self.min), self.max)

    def abs_quantile(self, q: float) -> float:
        """The q-quantile of |x|, to one bin (right edge of its bin)."""
        if self.width == 0.0:
            return 0.0
        return min((bin_of_quantile(self.folded(), q) + 1) * self.width, max(-self.min, self.max))


def bin_of_quantile(counts: np.ndarray, q: float) -> int:
    """Index of the bin holding the q-quantile of the histogram `counts`."""
    cum = np.cumsum(counts)
    return min(int(np.searchsorted(cum, q * cum[-1], side="left")), len(counts) - 1)
