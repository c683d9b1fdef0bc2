"""Weight constants -> QuantType constants storing integers.

One parameter pair per tensor, per output channel (the axis calibrate measured), or per
group of N consecutive elements along the input-channel (reduction) axis. Channel and
tensor ranges are the ones `calibrate` recorded on the constant (`q.range`); group
ranges are measured here, per block, with the constant's calibration method.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from qcompiler.ir.types import STORAGE_BITS, STORAGE_RANGES, QuantType
from qcompiler.numerics.affine import params_from_range, quantize

from ..calibration.weight_ranges import weight_range
from .errors import QuantizeError
from .ranges import RUN_CALIBRATE


@dataclass(frozen=True)
class WeightPlan:
    storage: str
    granularity: str            # "tensor" | "channel" | "group:N"
    symmetric: bool
    qrange: Optional[tuple] = None  # a narrower integer range inside the storage (reduce-range)

    @property
    def group(self) -> Optional[int]:
        return int(self.granularity.split(":")[1]) if self.granularity.startswith("group:") else None


def params_in(lo, hi, storage: str, symmetric: bool, qrange: Optional[tuple] = None) -> tuple:
    """`params_from_range` mapping [lo, hi] onto `qrange` = (a, b) inside the storage
    range: the float range is widened by the steps the storage has beyond [a, b]."""
    if qrange is None:
        return params_from_range(lo, hi, storage, symmetric)
    qmin, qmax = STORAGE_RANGES[storage]
    a, b = qrange
    lo = np.minimum(np.asarray(lo, np.float64), 0.0)
    hi = np.maximum(np.asarray(hi, np.float64), 0.0)
    if symmetric:
        return params_from_range(lo * qmax / b, hi * qmax / b, storage, True)
    step = (hi - lo) / (b - a)
    return params_from_range(lo - (a - qmin) * step, hi + (qmax - b) * step, storage, False)


def _recorded(const_node, name: str) -> np.ndarray:
    r = const_node.attrs.get("q.range")
    if r is None:
        raise QuantizeError(f"quantize needs the calibrated range of weight %{name}, but it has no q.range: "
                            f"{RUN_CALIBRATE}")
    r = np.asarray(r.array if hasattr(r, "array") else r, np.float64)
    if r.shape == (2,):
        return r.reshape(1, 2)
    if r.ndim != 2 or r.shape[1] != 2:
        raise QuantizeError(f"weight %{name}: q.range of shape {list(r.shape)} is neither [lo, hi] nor [C, 2]")
    return r


def _blocks(w: np.ndarray, group: int, in_axis: int) -> tuple:
    """Rows of `group` consecutive elements along `in_axis`, and the parameter shape."""
    moved = np.moveaxis(w, in_axis, -1)
    rows = moved.reshape(-1, group)
    param_shape = list(w.shape)
    param_shape[in_axis] //= group
    return rows, tuple(param_shape), moved.shape[:-1] + (moved.shape[-1] // group,)


def _range_and_layout(w, const_node, name, plan, out_axis, in_axis, method) -> tuple:
    """(lo, hi, QuantType axis, param shape) for the plan's granularity."""
    bits = STORAGE_BITS[plan.storage]
    if plan.group is not None:
        rows, param_shape, moved_shape = _blocks(w, plan.group, in_axis)
        lo, hi = weight_range(rows, method, bits, plan.symmetric, axis=0)
        unmove = lambda a: np.moveaxis(np.asarray(a).reshape(moved_shape), -1, in_axis)  # noqa: E731
        return unmove(lo), unmove(hi), in_axis, param_shape
    r = _recorded(const_node, name)
    if plan.granularity == "channel":
        channels = w.shape[out_axis]
        if r.shape[0] not in (1, channels):
            raise QuantizeError(f"weight %{name}: q.range has {r.shape[0]} channels, the weight has {channels} "
                                f"along axis {out_axis}; {RUN_CALIBRATE} again")
        return (np.broadcast_to(r[:, 0], (channels,)), np.broadcast_to(r[:, 1], (channels,)), out_axis, (channels,))
    return r[:, 0].min(), r[:, 1].max(), None, ()


def _binary_scale(w: np.ndarray, axis: Optional[int], group: Optional[int]) -> np.ndarray:
    """The scale minimising |w - s*sign(w)|^2 per parameter: the mean magnitude."""
    if group is not None:
        rows, _, moved_shape = _blocks(w, group, axis)
        return np.moveaxis(np.abs(rows).mean(axis=1).reshape(moved_shape), -1, axis)
    if axis is None:
        return np.abs(w).mean().reshape(())
    return np.abs(np.moveaxis(w, axis, 0).reshape(w.shape[axis], -1)).mean(axis=1)


def quantize_weight(w: np.ndarray, const_node, name: str, plan: WeightPlan, out_axis: Optional[int],
                    in_axis: Optional[int], method: str) -> tuple:
    """(integer storage array, QuantType) of float weight `w` under `plan`."""
    lo, hi, axis, param_shape = _range_and_layout(w, const_node, name, plan, out_axis, in_axis, method)
    expressed = {"float64": "f64", "float16": "f16"}.get(str(w.dtype), "f32")
    if plan.storage == "b1":
        scale = np.maximum(_binary_scale(w, axis, plan.group), np.finfo(np.float32).tiny)
        scale, zp = scale.astype(np.float32), np.zeros(np.shape(scale), np.int32)
    else:
        scale, zp = params_in(lo, hi, plan.storage, plan.symmetric, plan.qrange)
    t = QuantType(plan.storage, expressed, w.shape, scale.reshape(param_shape), zp.reshape(param_shape),
                  axis=axis, group=plan.group)
    q = quantize(w, t)
    if plan.qrange is not None:
        q = np.clip(q, *plan.qrange)
    return q.astype(np.int8), t  # weight storage is signed: i8, i4, i2 or b1
