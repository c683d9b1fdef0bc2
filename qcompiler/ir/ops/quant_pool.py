"""Integer average pools: qavg_pool2d and qglobal_avg_pool.

The window sum of zero-point-centred storage is exact; the division by the window size
is folded into the requantization multiplier (s_in / (s_out · count)). One multiplier
serves every window only when every window counts the same number of elements, so
qavg_pool2d requires that: no padding, or padding counted (`count_include_pad`, padded
with the input zero point, i.e. real 0), and no ceil-mode overhang.
"""
from __future__ import annotations

import numpy as np

from ..errors import VerifyError
from ..registry import infer_types, op
from .pool import AVG_POOL_ATTRS
from .quant_common import REQUANT_ATTRS, centered, check_requant, quant_operand, requantize_to, result_type
from .spatial import WindowPlan, ints_attr, pads_attr, plan_windows, windows

QAVG_POOL_ATTRS = {**AVG_POOL_ATTRS, **REQUANT_ATTRS}


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
    x = quant_operand(types[0], "qglobal_avg_pool", "x")
    check_requant(attrs, 1, "qglobal_avg_pool")
    return [result_type(x, infer_types("global_avg_pool", [x], {})[0].shape)]


@op("qglobal_avg_pool", inputs=["x"], attrs=dict(REQUANT_ATTRS), infer=_qglobal_infer, integer=True)
def qglobal_avg_pool(x, *, multiplier, shift, rounding, in_types, out_types):
    """Spatial sums of centred storage, requantized by s_in / (s_out · H·W)."""
    acc = centered(x, in_types[0]).sum(axis=tuple(range(2, x.ndim)), keepdims=True)
    return requantize_to(acc, out_types[0], multiplier.array, shift.array, rounding)
