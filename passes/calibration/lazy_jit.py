"""Numba kernels compiled (or loaded from Numba's on-disk cache) at their first call, so
that importing the passes does not import Numba (about 60 MB and a quarter second) unless
a calibration that needs a kernel runs. A kernel may call only Numba functions, not
another lazy kernel."""
from __future__ import annotations

import functools


def lazy_njit(function=None, **options):
    """`function` compiled by numba.njit(cache=True, nogil=True, **options) when first
    called; `@lazy_njit(error_model="numpy")` passes options."""
    if function is None:
        return functools.partial(lazy_njit, **options)
    compiled = None

    @functools.wraps(function)
    def call(*args):
        nonlocal compiled
        if compiled is None:
            from numba import njit

            compiled = njit(cache=True, nogil=True, **options)(function)
        return compiled(*args)

    return call
