"""Exact int16 dot products that LLVM turns into VPMADDWD (AVX2/AVX-512).

A single int32 reduction over sign-extended int16 operands is the one loop form LLVM's
x86 backend maps to vpmaddwd (sixteen or thirty-two 16-bit products, summed in pairs
into int32 lanes, no saturation): measured 25 vpmaddwd in the hot loop against none
when several reductions share one loop (those fall back to vpmulld on int32 lanes).
Sums wrap modulo 2^32, so the result is exact whenever the caller proved the true sum
fits int32.
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(inline="always", cache=True)
def dot16(x, w, k):
    """Σ_{t<k} x[t]·w[t] as int32; x, w int16 (or narrower) arrays."""
    acc = np.int32(0)
    for t in range(k):
        acc = np.int32(acc + np.int32(x[t]) * np.int32(w[t]))
    return acc
