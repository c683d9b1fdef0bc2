"""Affine (integer) quantization: real = (q - zero_point) * scale.

Scales/zero points are per tensor, per channel along `axis`, or per group of `group`
consecutive elements along `axis`. Rounding is round-half-to-even (numpy's `rint`),
which is what ONNX QuantizeLinear and our integer kernels use.
"""
from __future__ import annotations

import numpy as np

from ..ir.types import STORAGE_RANGES, QuantType


def broadcast_params(t: QuantType, shape: tuple) -> tuple:
    """Scale and zero point expanded so they broadcast against an array of `shape`."""
    scale = t.scale.array.astype(np.float32)
    zp = t.zero_point.array.astype(np.int32)
    if t.axis is None:
        return scale.reshape(()), zp.reshape(())
    axis = t.axis % len(shape)
    if t.group is None:
        view = [1] * len(shape)
        view[axis] = -1
        return scale.reshape(view), zp.reshape(view)
    # per-group: repeat each block parameter `group` times along the axis
    return (np.repeat(scale.reshape(_group_view(scale, shape, axis)), t.group, axis=axis),
            np.repeat(zp.reshape(_group_view(zp, shape, axis)), t.group, axis=axis))


def _group_view(param: np.ndarray, shape: tuple, axis: int) -> tuple:
    if param.ndim == len(shape):
        return param.shape
    view = [1] * len(shape)
    view[axis] = -1
    return tuple(view)


def quantize(x: np.ndarray, t: QuantType) -> np.ndarray:
    """Float array -> integer storage values (int32 container) clamped to the storage range."""
    x = np.asarray(x, dtype=np.float32)
    scale, zp = broadcast_params(t, x.shape)
    if t.storage == "b1":  # +1 from the midpoint of the two levels on: sign(x) at zero point 0
        return np.where(x >= -zp * scale, 1, -1).astype(np.int32)
    lo, hi = STORAGE_RANGES[t.storage]
    if x.ndim == 0 or not _exact_in_float32(lo, hi, zp):  # i32 storage: the bounds need float64
        return np.clip(np.rint(x / scale) + zp, lo, hi).astype(np.int32)
    steps = np.divide(x, scale)
    np.rint(steps, out=steps)
    # clip(steps + zp, lo, hi) == clip(steps, lo - zp, hi - zp) + zp, every term an exact
    # float32 integer; in place, without the float64 copies (report() runs this per value)
    zp32 = zp.astype(np.float32)
    np.clip(steps, lo - zp32, hi - zp32, out=steps)
    return np.add(steps, zp32, out=steps).astype(np.int32)


def dequantize(q: np.ndarray, t: QuantType) -> np.ndarray:
    q = np.asarray(q)
    scale, zp = broadcast_params(t, q.shape)
    if q.ndim == 0 or q.dtype.kind not in "iu" or (q.size and not _exact_in_float32(q.min(), q.max(), zp)):
        return ((q.astype(np.int64) - zp) * scale).astype(np.float32)
    # q - zp is an exact float32 integer, and a float32 product rounds exactly like the
    # float64 product of the same operands (exact: 24 + 24 bits) rounded to float32
    real = np.subtract(q, zp, dtype=np.float32)
    real *= scale
    return real


def _exact_in_float32(lo, hi, zp: np.ndarray) -> bool:
    """Whether integers in [lo, hi], the zero points and their differences are all exact
    float32 values (|each| <= 2**23 keeps every difference within float32's 2**24)."""
    limit = 2**23
    return -limit <= lo and hi <= limit and (zp.size == 0 or int(np.abs(zp.astype(np.int64)).max()) <= limit)


def fake_quantize(x: np.ndarray, t: QuantType) -> np.ndarray:
    return dequantize(quantize(x, t), t)


def params_from_range(lo, hi, storage: str, symmetric: bool) -> tuple:
    """Scale and zero point that map [lo, hi] (arrays or scalars) onto `storage`.

    The range is widened to include 0 so that zero is exactly representable (padding
    and ReLU outputs rely on it). Symmetric ranges use zero point 0 (or the midpoint
    for unsigned storage) and a scale of max|x| / qmax."""
    return params_for_levels(lo, hi, *STORAGE_RANGES[storage], symmetric)


def params_for_levels(lo, hi, qmin: int, qmax: int, symmetric: bool) -> tuple:
    """`params_from_range` onto the integers [qmin, qmax] (a storage's, or a narrower
    range inside one, such as the 7 bits of reduce-range i8)."""
    lo = np.minimum(np.asarray(lo, np.float64), 0.0)
    hi = np.maximum(np.asarray(hi, np.float64), 0.0)
    tiny = np.finfo(np.float32).tiny
    if symmetric:
        bound = np.maximum(np.maximum(-lo, hi), tiny)
        if qmin < 0:
            scale = bound / qmax
            zp = np.zeros_like(scale, dtype=np.int32)
        else:
            scale = 2 * bound / (qmax - qmin)
            zp = np.full(scale.shape, (qmin + qmax + 1) // 2, np.int32)
    else:
        scale = np.maximum((hi - lo) / (qmax - qmin), tiny)
        zp = np.clip(np.rint(qmin - lo / scale), qmin, qmax).astype(np.int32)
    return scale.astype(np.float32), zp.astype(np.int32)
