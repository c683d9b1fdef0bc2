"""Integer average pools: qavg_pool2d and qglobal_avg_pool.

The window sum of zero-point-centred storage is exact; the division by the window size
is folded into the requantization multiplier (s_in / (s_out · count)). One multiplier
serves every window only when every window counts the same number of elements, so
qavg_pool2d requires that: no padding, or padding counted (`count_include_pad`, padded
with the input zero point, i.e. real 0), and no ceil-mode overhang.

A global pool over a spatial area known only at run time (`runtime_count`) carries
s_in / s_out as its multiplier and divides the int64 sum S by the run-time count with
exact rounding: y = zp_y + round(S · multiplier / (count · 2^shift)) (`mean_requantize`).
"""
from __future__ import annotations

import numpy as np

from ...numerics.fixed_point import rounding_shift
from ..errors import VerifyError
from ..registry import Attr, infer_types, op
from .pool import AVG_POOL_ATTRS
from .quant_common import REQUANT_ATTRS, centered, check_requant, quant_operand, requantize_to, result_type
from .spatial import WindowPlan, ints_attr, pads_attr, plan_windows, windows

QAVG_POOL_ATTRS = {**AVG_POOL_ATTRS, **REQUANT_ATTRS}
QGLOBAL_POOL_ATTRS = {**REQUANT_ATTRS, "runtime_count": Attr(
    "bool", False, doc="multiplier is s_in / s_out; the sum is divided by the spatial size seen at run time")}
# b · multiplier < 2^32 · 2^31 stays in int64 (mean_requantize); no tensor comes near it
MAX_RUNTIME_COUNT = 2**32 - 1
# |2q + 1| < 2^49 for <= 16-bit storage, so a shift of 62 already rounds it to 0 (and
# 2^62 is an int64 in every implementation, ONNX's included)
MAX_MEAN_SHIFT = 62


def avg_pool_plan(shape, kernel, stride=None, pad=None, ceil_mode=False, where: str = "avg_pool2d") -> WindowPlan:
    """The window plan of a 2-D average pool over an input of `shape` [N, C, H, W]."""
    kernel = ints_attr(kernel, 2, 1, "kernel", where, 1)
    stride = kernel if stride is None else ints_attr(stride, 2, 1, "stride", where, 1)
    begin, end = pads_attr(pad, 2, where)
    return plan_windows(shape[2:], kernel, stride, (1, 1), begin, end, where, ceil_mode)


def uniform_window_count(plan: WindowPlan, count_include_pad: bool) -> bool:
    """Whether every window divides by the same count (the full kernel area)."""
    padded = any(plan.begin) or any(plan.end)
    return not any(plan.extra) and (count_include_pad or not padded)


def _pool_attrs(attrs: dict) -> dict:
    return {k: attrs[k] for k in AVG_POOL_ATTRS}


def _qavg_infer(types, attrs, consts):
    x = quant_operand(types[0], "qavg_pool2d", "x")
    out = infer_types("avg_pool2d", [x], _pool_attrs(attrs))[0]
    plan = avg_pool_plan(x.shape, attrs["kernel"], attrs["stride"], attrs["pad"], attrs["ceil_mode"], "qavg_pool2d")
    if not uniform_window_count(plan, attrs["count_include_pad"]):
        raise VerifyError("qavg_pool2d: every window must count the full kernel (padding needs count_include_pad, "
                          "and ceil_mode must not add partial windows)")
    check_requant(attrs, 1, "qavg_pool2d")
    return [result_type(x, out.shape)]


@op("qavg_pool2d", inputs=["x"], attrs=QAVG_POOL_ATTRS, infer=_qavg_infer, integer=True)
def qavg_pool2d(x, *, kernel, stride=None, pad=None, ceil_mode=False, count_include_pad=True, multiplier, shift,
                rounding, in_types, out_types):
    """Window sums of centred storage, requantized by s_in / (s_out · kernel area)."""
    plan = avg_pool_plan(x.shape, kernel, stride, pad, ceil_mode, "qavg_pool2d")
    begin, end = plan.full_pads()
    xp = np.pad(centered(x, in_types[0]), [(0, 0), (0, 0)] + list(zip(begin, end)))
    acc = windows(xp, plan).sum(axis=(-2, -1))
    return requantize_to(acc, out_types[0], multiplier.array, shift.array, rounding)


def _qglobal_infer(types, attrs, consts):
    x = quant_operand(types[0], "qglobal_avg_pool", "x", max_bits=16 if attrs["runtime_count"] else 32)
    check_requant(attrs, 1, "qglobal_avg_pool")
    if attrs["runtime_count"] and np.any(attrs["shift"].array < 1):
        raise VerifyError("qglobal_avg_pool: with runtime_count, 'shift' must be at least 1 (s_in / s_out < 2^30)")
    return [result_type(x, infer_types("global_avg_pool", [x], {})[0].shape)]


def check_runtime_count(count: int) -> None:
    if not 1 <= count <= MAX_RUNTIME_COUNT:
        raise ValueError(f"a global average pool over {count} elements per channel: the integer kernel divides "
                         f"by a count in [1, {MAX_RUNTIME_COUNT}]")


def mean_requantize(sums: np.ndarray, count: int, out, multiplier: int, shift: int, rounding: str) -> np.ndarray:
    """zp_y + round(S · multiplier / (count · 2^shift)), clamped, for int64 sums S: exact
    for any S and count < 2^32 in int64. S = a · count + b, so
    S · multiplier = (a · multiplier + q2) · count + r with q2, r = divmod(b · multiplier, count);
    the quotient q = a · multiplier + q2 and a sticky bit for r ≠ 0 below it round once:
    2q + [r ≠ 0] shifted right by shift + 1 (ties only when r = 0, as shift >= 1)."""
    check_runtime_count(count)
    a, b = np.divmod(np.asarray(sums, np.int64), np.int64(count))
    q2, r = np.divmod(b * np.int64(multiplier), np.int64(count))
    sticky = 2 * (a * np.int64(multiplier) + q2) + (r != 0)
    y = rounding_shift(sticky, min(shift + 1, MAX_MEAN_SHIFT), rounding)
    zp = int(out.zero_point.array.reshape(-1)[0])
    return np.clip(y + zp, out.qmin, out.qmax).astype(np.int32)


@op("qglobal_avg_pool", inputs=["x"], attrs=QGLOBAL_POOL_ATTRS, infer=_qglobal_infer, integer=True)
def qglobal_avg_pool(x, *, multiplier, shift, rounding, runtime_count=False, in_types, out_types):
    """Spatial sums of centred storage, requantized by s_in / (s_out · H·W) (H·W folded
    into the multiplier, or divided at run time with `runtime_count`)."""
    acc = centered(x, in_types[0]).sum(axis=tuple(range(2, x.ndim)), keepdims=True)
    if runtime_count:
        count = int(np.prod(x.shape[2:], dtype=np.int64))
        return mean_requantize(acc, count, out_types[0], int(multiplier.array.reshape(-1)[0]),
                               int(shift.array.reshape(-1)[0]), rounding)
    return requantize_to(acc, out_types[0], multiplier.array, shift.array, rounding)
