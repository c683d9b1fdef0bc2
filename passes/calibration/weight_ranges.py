"""Ranges of weight tensors: the whole tensor is known, so no streaming is needed and
MMSE is computed exactly over every element."""
from __future__ import annotations

from typing import Optional

import numpy as np

from .minmax import MinMaxObserver
from .mse import mse_range_exact
from .observers import make_observer


def weight_range(array, method: str, bits: int, symmetric: bool, axis: Optional[int] = None,
                 percentile: float = 99.99) -> tuple:
    """(lo, hi) of `array` for `method` at `bits`: floats per tensor, arrays of the
    channel count along `axis` per channel."""
    a = np.asarray(array, np.float32)
    if method == "mse":
        return mse_range_exact(a, bits, symmetric, axis)
    if method == "minmax":
        observer = MinMaxObserver(axis)
        observer.update(a)
        return observer.range(bits, symmetric)
    if axis is None:
        return _observed_range(a, method, bits, symmetric, percentile)
    rows = np.moveaxis(a, axis, 0).reshape(a.shape[axis], -1)
    pairs = [_observed_range(row, method, bits, symmetric, percentile) for row in rows]
    return np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])


def _observed_range(a: np.ndarray, method: str, bits: int, symmetric: bool, percentile: float) -> tuple:
    observer = make_observer(method, percentile=percentile)
    observer.update(a)
    return observer.range(bits, symmetric)
