"""The observer interface: statistics of a stream of arrays, summarised as a range."""
from __future__ import annotations

import numpy as np

from .histogram import StreamingHistogram


class Observer:
    """`update(array)` folds a batch into running statistics (never stores the batch);
    `range(bits, symmetric)` returns the clipping range (lo, hi) the method chooses for
    that bit width — floats per tensor, arrays per channel. A symmetric range clips
    both sides at one threshold t and is reported as the data range clipped to
    [-t, t], so a one-sided tensor (a ReLU output) keeps its sign information.
    An observer that `checks_finite` raises NonFiniteData from `update` on NaN or Inf
    (found in its own pass over the data, so callers need not check first)."""

    checks_finite = False

    def update(self, array) -> None:
        raise NotImplementedError

    def range(self, bits: int, symmetric: bool) -> tuple:
        raise NotImplementedError

    def observed(self) -> tuple:
        """The (lo, hi) of everything seen, unclipped."""
        raise NotImplementedError


class HistogramObserver(Observer):
    """Per-tensor observer backed by a fixed-size streaming histogram."""

    checks_finite = True

    def __init__(self, bins: int = 2048):
        self.histogram = StreamingHistogram(bins)

    def update(self, array) -> None:
        self.histogram.update(np.asarray(array))

    def clip_symmetric(self, threshold: float) -> tuple:
        h = self.histogram
        return max(h.min, -threshold), min(h.max, threshold)

    def observed(self) -> tuple:
        if self.histogram.total == 0:
            raise ValueError(f"{type(self).__name__}.range() called before any update()")
        return self.histogram.min, self.histogram.max
