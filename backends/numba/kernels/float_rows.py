"""Float32 kernels over rows (the reduced axis made last and contiguous): softmax with an
optional boolean keep mask, LayerNorm, and elementwise GELU.

They follow the numpy references step by step in float32 (the mask is added to the scores
in float32, so -inf, finfo.min and -1e4 fills behave as there) but sum in float64, where
numpy sums float32 pairwise: results agree with the reference to float32 rounding (a few
ulp), not bit for bit (GELU: see gelu_flat). Each kernel runs rows [first, last) serially; its
_parallel twin splits them into chunks over Numba's threads (a parallel launch costs ~50 us CPU
even at one thread, so small inputs take the serial kernel: ops/serial_or_parallel.py decides).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .chunks import chunk_bounds

SQRT2 = math.sqrt(2.0)
SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


@njit(cache=True)
def masked_softmax_rows(first, last, x, keep, use_keep, fill, zero_empty_rows, out):
    """x, out: [R, L] float32; keep: [R, L] bool (read only when `use_keep`); fill: float32."""
    length = x.shape[1]
    for r in range(first, last):
        peak = -np.inf
        for i in range(length):
            s = x[r, i] if not use_keep or keep[r, i] else x[r, i] + fill
            out[r, i] = s
            peak = max(peak, s)
        if zero_empty_rows and peak == -np.inf:
            out[r, :] = 0
            continue
        total = 0.0
        for i in range(length):
            e = np.float32(math.exp(np.float64(out[r, i] - peak)))
            out[r, i] = e
            total += e
        scale = np.float32(total)
        for i in range(length):
            out[r, i] = out[r, i] / scale


@njit(parallel=True, cache=True)
def masked_softmax_rows_parallel(chunks, x, keep, use_keep, fill, zero_empty_rows, out):
    for c in prange(chunks):
        first, last = chunk_bounds(c, chunks, x.shape[0])
        masked_softmax_rows(first, last, x, keep, use_keep, fill, zero_empty_rows, out)


@njit(cache=True)
def layer_norm_rows(first, last, x, weight, bias, eps, out):
    """x, out: [R, D] float32; weight, bias: [D] float32 (ones / zeros when absent)."""
    width = x.shape[1]
    for r in range(first, last):
        total = 0.0
        for i in range(width):
            total += x[r, i]
        mean = np.float32(total / width)
        squares = 0.0
        for i in range(width):
            d = np.float64(x[r, i] - mean)
            squares += d * d
        std = np.float32(math.sqrt(np.float32(squares / width) + eps))
        for i in range(width):
            out[r, i] = (x[r, i] - mean) / std * weight[i] + bias[i]


@njit(parallel=True, cache=True)
def layer_norm_rows_parallel(chunks, x, weight, bias, eps, out):
    for c in prange(chunks):
        first, last = chunk_bounds(c, chunks, x.shape[0])
        layer_norm_rows(first, last, x, weight, bias, eps, out)


@njit(cache=True)
def gelu_flat(first, last, x, tanh_form, out):
    """x, out: flat float32; erf GELU, or the tanh approximation when `tanh_form`. Like the
    reference, in float64 rounded once to float32: the erf form equals it bit for bit but
    where libm's and scipy's float64 erf differ in the last bit right at a float32 tie."""
    for i in range(first, last):
        v = np.float64(x[i])
        if tanh_form:
            out[i] = 0.5 * v * (1.0 + math.tanh(SQRT_2_OVER_PI * (v + 0.044715 * v * v * v)))
        else:
            out[i] = 0.5 * v * (1.0 + math.erf(v / SQRT2))


@njit(parallel=True, cache=True)
def gelu_flat_parallel(chunks, x, tanh_form, out):
    for c in prange(chunks):
        first, last = chunk_bounds(c, chunks, x.size)
        gelu_flat(first, last, x, tanh_form, out)
