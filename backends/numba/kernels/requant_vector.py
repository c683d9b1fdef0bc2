"""The rounding shift of `rounding.rounding_shift` in a branch-free form LLVM vectorizes
(AVX-512: vpsraq, masked selects on the loop-invariant rounding mode), for loops over
many outputs (qadd, the bit-serial kernels), where the tie branches of the scalar one
would keep them scalar. The same integers: floor, low-bit remainder, tie rule.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from qcompiler.numerics.fixed_point import MAX_SHIFT

from .rounding import HALF_AWAY, HALF_UP

_INT64_MAX = np.int64(np.iinfo(np.int64).max)


@njit(inline="always", cache=True)
def shift_rounded(x, s, mode):
    """rounding.rounding_shift(x, s, mode) for any int64 x and s in [0, 63], branch-free:
    floor plus [remainder - half + tie > 0], tie 1 when the mode rounds this tie up."""
    floor = x >> s
    remainder = x & (_INT64_MAX >> (MAX_SHIFT - s))
    half = np.int64(1) << max(s - 1, 0)  # with s = 0 the remainder is 0 and nothing rounds up
    tie = np.int64(1) if mode == HALF_UP else (np.int64(x >= 0) if mode == HALF_AWAY else floor & 1)
    return floor + np.int64(remainder - half + tie > 0)
