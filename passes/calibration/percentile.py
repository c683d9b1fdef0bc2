"""Percentile clipping from a streaming histogram.

Two-sided: [P(100 − p), P(p)] of x. Symmetric: t = P(p) of |x|, range clipped to ±t."""
from __future__ import annotations

from .observer import HistogramObserver


class PercentileObserver(HistogramObserver):
    def __init__(self, percentile: float = 99.99, bins: int = 2048):
        if not 0.0 < percentile <= 100.0:
            raise ValueError(f"percentile must be in (0, 100], got {percentile}")
        super().__init__(bins)
        self.percentile = percentile

    def range(self, bits: int = 8, symmetric: bool = False) -> tuple:
        self.observed()
        q = self.percentile / 100.0
        if symmetric:
            return self.clip_symmetric(self.histogram.abs_quantile(q))
        return self.histogram.quantile(1.0 - q), self.histogram.quantile(q)
