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


@dataclass(frozen=True)
class _Layout:
    """Where the parameters go: the QuantType axis, the parameter shape, and the weight
    cut into rows of the elements each parameter covers (rows in parameter order)."""

    axis: Optional[int]
    shape: tuple
    rows: np.ndarray
    moved_shape: Optional[tuple] = None  # per group: parameter shape with the input axis last

    def params(self, per_row) -> np.ndarray:
        a = np.asarray(per_row)
        if self.moved_shape is None:
            return a.reshape(self.shape)
        return np.moveaxis(a.reshape(self.moved_shape), -1, self.axis)


def _layout(w: np.ndarray, plan: WeightPlan, out_axis: Optional[int], in_axis: Optional[int]) -> _Layout:
    if plan.group is not None:
        moved = np.moveaxis(w, in_axis, -1)
        shape = list(w.shape)
        shape[in_axis] //= plan.group
        return _Layout(in_axis, tuple(shape), moved.reshape(-1, plan.group),
                       moved.shape[:-1] + (moved.shape[-1] // plan.group,))
    if plan.granularity == "channel":
        return _Layout(out_axis, (w.shape[out_axis],), np.moveaxis(w, out_axis, 0).reshape(w.shape[out_axis], -1))
    return _Layout(None, (), w.reshape(1, -1))


def _range(layout: _Layout, const_node, name: str, plan: WeightPlan, method: str) -> tuple:
    """(lo, hi) per parameter: recorded by calibrate per channel or tensor, measured here per group."""
    if plan.group is not None:
        lo, hi = weight_range(layout.rows, method, STORAGE_BITS[plan.storage], plan.symmetric, axis=0)
        return layout.params(lo), layout.params(hi)
    r = _recorded(const_node, name)
    if layout.axis is None:
        return r[:, 0].min(), r[:, 1].max()
    channels = layout.shape[0]
    if r.shape[0] not in (1, channels):
        raise QuantizeError(f"weight %{name}: q.range has {r.shape[0]} channels, the weight has {channels} "
                            f"along axis {layout.axis}; {RUN_CALIBRATE} again")
    return np.broadcast_to(r[:, 0], (channels,)), np.broadcast_to(r[:, 1], (channels,))


def quantize_weight(w: np.ndarray, const_node, name: str, plan: WeightPlan, out_axis: Optional[int],
                    in_axis: Optional[int], method: str) -> tuple:
    """(integer storage array, QuantType) of float weight `w` under `plan`."""
    layout = _layout(w, plan, out_axis, in_axis)
    if plan.storage == "b1":
        # the scale minimising |w - s*sign(w)|^2 is the mean magnitude
        scale = np.maximum(layout.params(np.abs(layout.rows).mean(axis=1)), np.finfo(np.float32).tiny)
        zp = np.zeros(layout.shape, np.int32)
    else:
        scale, zp = params_in(*_range(layout, const_node, name, plan, method), plan.storage, plan.symmetric,
                              plan.qrange)
    expressed = {"float64": "f64", "float16": "f16"}.get(str(w.dtype), "f32")
    t = QuantType(plan.storage, expressed, w.shape, np.reshape(scale, layout.shape).astype(np.float32),
                  np.reshape(zp, layout.shape), axis=layout.axis, group=plan.group)
    q = quantize(w, t)
    if plan.qrange is not None:
        q = np.clip(q, *plan.qrange)
    return q.astype(np.int8), t  # weight storage is signed: i8, i4, i2 or b1
