"""b1 results from accumulators: +1 (or the clamp's upper end) where acc >= the channel's
threshold, else -1 (the lower end), in one pass into int8 (ops/binary_results.py)."""
from __future__ import annotations

from numba import njit


@njit(cache=True)
def binarize_channels(acc, thresholds, lo, hi, out):
    """acc: int32 [outer, C, inner]; thresholds: int64 [C]; out: int8 [outer, C, inner]."""
    for o in range(acc.shape[0]):
        for c in range(acc.shape[1]):
            t = thresholds[c]
            for i in range(acc.shape[2]):
                out[o, c, i] = hi if acc[o, c, i] >= t else lo
