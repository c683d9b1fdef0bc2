"""Moving values between representations: quantize (float -> storage), dequantize
(storage -> float) and requantize (storage -> storage with other parameters).

Parameters arrive flattened with an `inner` stride: element i uses parameter
(i // inner) % len(params), which covers per-tensor (one parameter), per-channel
(inner = product of the dims after the axis) and fully broadcast per-group arrays
(inner = 1, one parameter per element). The float arithmetic copies numpy's promotions
in `qcompiler.numerics.affine` (f32 division then rint; int64·f32 product in f64,
rounded to f32) so results match the reference bit for bit.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .rounding import rounding_shift

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


@njit(cache=True, error_model="numpy")
def _level(x, s, zp, lo, hi):
    """Storage value of one float: f32 quotient rounded half to even, zero point added and
    clamped in f64 (exact for every storage, i32 included). The quotient stays a division:
    x times a rounded 1/s is off by an ulp on some x and moves near-ties. numpy's error
    model (s = 0 gives inf, as the reference) drops Python's zero check per element, which
    kept a loop whose divisor changes per element (a row along the parameters) scalar."""
    return np.int32(min(max(np.float64(np.rint(x / s)) + zp, lo), hi))


@njit(cache=True)
def _sign(x, threshold):
    """b1 storage: +1 from the midpoint of its two levels, -zp·s, on (the sign at zero point 0)."""
    return np.int32(1) if x >= threshold else np.int32(-1)


@njit(cache=True)
def _runs(n, p, inner):
    """(run, outer) of the [outer, p, run] view of n elements with p parameters: one run of
    n per tensor, runs of `inner` elements sharing a parameter otherwise."""
    run = n if p == 1 else inner
    return run, (n // (p * run) if n else 0)


@njit(cache=True)
def quantize_kernel(x, scale, zero_point, inner, lo, hi, binary, out):
    """x: float32 [n]; scale: float32 [p]; zero_point: int32 [p]; out: integers [n] holding
    [lo, hi]; n a multiple of p·inner.

    Walked as [outer, p, inner] views counting from 0, as dequantize_kernel: no parameter
    index divided out per element, each innermost loop vectorized (a run sharing one
    parameter, or a row along the parameters when inner == 1). Bit-identical with the
    reference (numpy's f32 quotient, rint, the f64 zero point and clamp)."""
    p = scale.size
    run, outer = _runs(x.size, p, inner)
    if run == 1:
        x2, out2 = x.reshape((outer, p)), out.reshape((outer, p))
        for o in range(outer):
            for c in range(p):
                if binary:
                    out2[o, c] = _sign(x2[o, c], -np.float64(zero_point[c]) * np.float64(scale[c]))
                else:
                    out2[o, c] = _level(x2[o, c], scale[c], zero_point[c], lo, hi)
        return
    x3, out3 = x.reshape((outer, p, run)), out.reshape((outer, p, run))
    for o in range(outer):
        for c in range(p):
            s, zp = scale[c], zero_point[c]
            threshold = -np.float64(zp) * np.float64(s)
            for i in range(run):
                if binary:
                    out3[o, c, i] = _sign(x3[o, c, i], threshold)
                else:
                    out3[o, c, i] = _level(x3[o, c, i], s, zp, lo, hi)


@njit(cache=True)
def dequantize_kernel(q, scale, zero_point, inner, out):
    """q: int [n] storage; out: float32 [n] = (q - zero_point)·scale; n a multiple of p·inner.

    No parameter index is divided out per element: the arrays are viewed as [outer, p,
    inner] and walked in that order, so per tensor (p = 1: one run of n) and per channel
    with inner > 1 the innermost loop is a run sharing one parameter, and with inner == 1
    (the last axis; per group, one parameter per element) it runs along the parameters.
    Every loop counts from 0 on the views (an index from a run's start keeps Numba's
    negative-index check inside the loop, which then stays scalar), so LLVM vectorizes it.
    The subtraction stays in integers and the product in f64, rounded once to f32, as the
    reference's: bit-identical for any storage, i32 included."""
    p = scale.size
    run, outer = _runs(q.size, p, inner)
    if run == 1:
        q2, out2 = q.reshape((outer, p)), out.reshape((outer, p))
        for o in range(outer):
            for c in range(p):
                out2[o, c] = np.float32(np.float64(np.int64(q2[o, c]) - zero_point[c]) * np.float64(scale[c]))
        return
    q3, out3 = q.reshape((outer, p, run)), out.reshape((outer, p, run))
    for o in range(outer):
        for c in range(p):
            s, zp = np.float64(scale[c]), np.int64(zero_point[c])
            for i in range(run):
                out3[o, c, i] = np.float32(np.float64(np.int64(q3[o, c, i]) - zp) * s)


@njit(cache=True)
def requantize_kernel(x, x_zp, multiplier, shift, y_zp, lo, hi, mode, out, overflow):
    """Per-tensor storage -> storage: zp_y + round((x - zp_x)·multiplier·2^-shift), clamped.
    overflow[0] is set when a centred value leaves int32 (the reference raises there)."""
    for i in range(x.size):
        a = np.int64(x[i]) - x_zp
        if a < INT32_MIN or a > INT32_MAX:
            overflow[0] = 1
        y = rounding_shift(a * multiplier, shift, mode) + y_zp
        out[i] = np.int32(min(max(y, lo), hi))
