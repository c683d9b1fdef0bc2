"""The calibration methods by name, and the observer each one uses for activations."""
from __future__ import annotations

from .kl import KLObserver
from .minmax import MinMaxObserver
from .mse import MIN_GAIN_DB, MSEObserver
from .observer import Observer
from .percentile import PercentileObserver

METHODS = ("minmax", "percentile", "kl", "mse")


def make_observer(method: str, *, percentile: float = 99.99, bins: int = 2048,
                  min_gain_db: float = MIN_GAIN_DB) -> Observer:
    """A fresh per-tensor activation observer for `method` (`min_gain_db`: mse's, see mse.py)."""
    if method == "minmax":
        return MinMaxObserver()
    if method == "percentile":
        return PercentileObserver(percentile, bins)
    if method == "kl":
        return KLObserver(bins)
    if method == "mse":
        return MSEObserver(bins, min_gain_db)
    raise ValueError(f"unknown calibration method {method!r}; expected one of {', '.join(METHODS)}")
