"""Running minimum and maximum, per tensor or per channel along an axis."""
from __future__ import annotations

from typing import Optional

import numpy as np

from .observer import Observer


class MinMaxObserver(Observer):
    def __init__(self, axis: Optional[int] = None):
        self.axis = axis
        self.min: Optional[np.ndarray] = None
        self.max: Optional[np.ndarray] = None

    def update(self, array) -> None:
        a = np.asarray(array)
        if self.axis is None:
            lo, hi = np.float64(a.min()), np.float64(a.max())
        else:
            rows = np.moveaxis(a, self.axis, 0).reshape(a.shape[self.axis], -1)
            lo, hi = rows.min(axis=1).astype(np.float64), rows.max(axis=1).astype(np.float64)
        if self.min is None:
            self.min, self.max = lo, hi
        else:
            if np.shape(lo) != np.shape(self.min):
                raise ValueError(f"MinMaxObserver(axis={self.axis}): {np.size(lo)} channels, "
                                 f"earlier batches had {np.size(self.min)}")
            self.min, self.max = np.minimum(self.min, lo), np.maximum(self.max, hi)

    def range(self, bits: int = 8, symmetric: bool = False) -> tuple:
        """The observed range; min/max clips nothing, whatever the bit width."""
        if self.min is None:
            raise ValueError("MinMaxObserver.range() called before any update()")
        if self.axis is None:
            return float(self.min), float(self.max)
        return self.min.copy(), self.max.copy()

    def observed(self) -> tuple:
        return self.range()
