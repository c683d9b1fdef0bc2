"""I-BERT integer kernels (qcompiler/numerics/ibert_*.py) row by row: the same integer
operations in the same order, so the results equal the references bit for bit. Values
are int64 registers holding what the plans bound to int32. Each kernel runs rows (GELU:
elements) [begin, end); its _parallel twin splits them into chunks over Numba's threads
(ops/serial_or_parallel.py picks one)."""
from __future__ import annotations

import numba
import numpy as np

from .chunks import chunk_bounds


@numba.njit(cache=True)
def bit_length(v):
    bits = 0
    while v > 0:
        v >>= 1
        bits += 1
    return bits


@numba.njit(cache=True)
def rounding_shift(v, shift):
    return (v + (1 << (shift - 1))) >> shift if shift > 0 else v


@numba.njit(cache=True)
def rescale(v, pre, multiplier, shift):
    return rounding_shift(rounding_shift(v, pre) * multiplier, shift)


@numba.njit(cache=True)
def isqrt(n):
    if n == 0:
        return 0
    x = 1 << ((bit_length(n) + 1) // 2)
    while True:
        nxt = (x + n // x) >> 1
        if nxt >= x:
            return x
        x = nxt


@numba.njit(cache=True)
def i_exp(q, upshift, floor_in, q_ln2, q_b, q_c, drop, max_halvings):
    x = max(q, floor_in)
    x = x << upshift if upshift >= 0 else rounding_shift(x, -upshift)
    x = max(x, -max_halvings * q_ln2)
    z = (-x) // q_ln2
    p = x + z * q_ln2
    return (((p + q_b) * (p + q_b) + q_c) >> drop) >> z


@numba.njit(cache=True)
def softmax_rows(begin, end, q, keep, exp_params, probability_bits, pre, multiplier, shift, zp, lo, hi, out):
    upshift, floor_in, q_ln2, q_b, q_c, drop, max_halvings = exp_params
    for r in range(begin, end):
        peak, any_kept = np.int64(0), False
        for c in range(q.shape[1]):
            if keep[r, c] and (not any_kept or q[r, c] > peak):
                peak, any_kept = q[r, c], True
        e = np.zeros(q.shape[1], np.int64)
        total = np.int64(0)
        for c in range(q.shape[1]):
            if keep[r, c]:
                e[c] = i_exp(q[r, c] - peak, upshift, floor_in, q_ln2, q_b, q_c, drop, max_halvings)
                total += e[c]
        divisor = max(total, 1)
        for c in range(q.shape[1]):
            p = ((e[c] << probability_bits) + (divisor >> 1)) // divisor
            out[r, c] = min(max(rescale(p, pre, multiplier, shift) + zp, lo), hi)


@numba.njit(cache=True, parallel=True)
def softmax_rows_parallel(chunks, q, keep, exp_params, probability_bits, pre, multiplier, shift, zp, lo, hi, out):
    for c in numba.prange(chunks):
        begin, end = chunk_bounds(c, chunks, q.shape[0])
        softmax_rows(begin, end, q, keep, exp_params, probability_bits, pre, multiplier, shift, zp, lo, hi, out)


@numba.njit(cache=True)
def gelu_elements(begin, end, q, upshift, cap, q_b, q_c, drop, pre, multiplier, shift, zp, lo, hi, out):
    for i in range(begin, end):
        v = q[i]
        magnitude = min(abs(v), cap)
        magnitude = magnitude << upshift if upshift >= 0 else rounding_shift(magnitude, -upshift)
        t = min(magnitude, -q_b) + q_b
        sign = (v > 0) - (v < 0)
        erf = sign * (t * t + q_c)
        factor = (-(erf + q_c)) >> drop
        out[i] = min(max(rescale(v * factor, pre, multiplier, shift) + zp, lo), hi)


@numba.njit(cache=True, parallel=True)
def gelu_elements_parallel(chunks, q, upshift, cap, q_b, q_c, drop, pre, multiplier, shift, zp, lo, hi, out):
    for c in numba.prange(chunks):
        begin, end = chunk_bounds(c, chunks, q.shape[0])
        gelu_elements(begin, end, q, upshift, cap, q_b, q_c, drop, pre, multiplier, shift, zp, lo, hi, out)


@numba.njit(cache=True)
def layer_norm_rows(begin, end, q, in_zp, log_channels, divisor_bits, normal_bits, digit_bits, pre, multipliers,
                    shifts, bias, eps_squares, eps_shift, zp, lo, hi, out):
    channels = q.shape[1]
    for r in range(begin, end):
        x = np.empty(channels, np.int64)
        peak = np.int64(0)
        for c in range(channels):
            x[c] = q[r, c] - in_zp
            peak = max(peak, abs(x[c]))
        first = max(0, bit_length(peak) + log_channels - 29)
        total = np.int64(0)
        for c in range(channels):
            x[c] >>= first
            total += x[c]
        widest = np.int64(0)
        for c in range(channels):
            x[c] = channels * x[c] - total
            widest = max(widest, abs(x[c]))
        shift_square = max(0, (2 * bit_length(widest) + log_channels - 30 + 1) // 2)
        squares, magnitudes = np.int64(0), np.int64(0)
        for c in range(channels):
            ys = rounding_shift(x[c], shift_square)
            squares += ys * ys
            magnitudes += abs(ys)
        shift_square = max(0, shift_square - (30 - bit_length(squares + 2 * magnitudes + channels)) // 2)
        shift_square = max(shift_square, eps_shift - first)
        squares = eps_squares[min(first + shift_square, eps_squares.shape[0] - 1)]
        for c in range(channels):
            ys = rounding_shift(x[c], shift_square)
            squares += ys * ys
        root = isqrt(squares)
        up = min(shift_square, divisor_bits - bit_length(root))
        divisor = max(root << up, 1)
        for c in range(channels):
            y = x[c] >> (shift_square - up)
            n = y // divisor
            rest = y - n * divisor
            for _ in range(normal_bits // digit_bits):
                rest <<= digit_bits
                digit = rest // divisor
                n = (n << digit_bits) + digit
                rest -= digit * divisor
            if 2 * rest >= divisor:
                n += 1
            v = rescale(n, pre, multipliers[c], shifts[c]) + bias[c]
            out[r, c] = min(max(v + zp, lo), hi)


@numba.njit(cache=True, parallel=True)
def layer_norm_rows_parallel(chunks, q, *args):
    for c in numba.prange(chunks):
        begin, end = chunk_bounds(c, chunks, q.shape[0])
        layer_norm_rows(begin, end, q, *args)
