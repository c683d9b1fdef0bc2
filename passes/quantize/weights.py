"""Weight constants -> QuantType constants storing integers.

One parameter pair per tensor, per output channel (the axis calibrate measured), or per
group of N consecutive elements along the input-channel (reduction) axis. Channel and
tensor ranges are the ones `calibrate` recorded on the constant (`q.range`), derived
again here with the same method when they were computed for another width
(`q.range_bits`: MSE-optimal clipping at 2 bits is far from the one at 8); group ranges
are measured here, per block, with the constant's calibration method. Degenerate ranges
get an ordinary scale (degenerate.py); a `min_scale` per parameter (bias_fit.py) raises
the scales of parameters whose bias would not fit the accumulator.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from qcompiler.ir.types import STORAGE_BITS, STORAGE_RANGES, QuantType
from qcompiler.numerics.affine import params_from_range, quantize

from ..calibration.weight_ranges import weight_range
from .degenerate import degenerate, replace_degenerate
from .errors import QuantizeError
from .ranges import RUN_CALIBRATE


@dataclass(frozen=True)
class WeightPlan:
    storage: str
    granularity: str            # "tensor" | "channel" | "group:N"
    symmetric: bool
    qrange: Optional[tuple] = None  # a narrower integer range inside the storage (choices.weight_levels)
    reduce_range: bool = False      # qrange is x86-avx2's 7 bits of an 8-bit layer, not the layer's width

    @property
    def bits(self) -> int:
        """The width the integers use: the storage's, or that of the narrower range."""
        if self.qrange is None:
            return STORAGE_BITS[self.storage]
        return int(self.qrange[1] - self.qrange[0]).bit_length()

    @property
    def layer_bits(self) -> int:
        """The width the readers record as `q.bits`: a reduce-range weight's layer is 8-bit."""
        return STORAGE_BITS[self.storage] if self.reduce_range else self.bits

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


def recorded_range(const_node, name: str) -> np.ndarray:
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


def _for_width(r: np.ndarray, w: np.ndarray, const_node, plan: WeightPlan, method: str, axis) -> np.ndarray:
    """The recorded [C, 2] ranges, or the same method's ranges (per tensor, or per channel
    along `axis`) at the width the integers use (7 bits for reduce-range i8) when
    calibrate computed them for another one (min/max does not depend on the width)."""
    bits = plan.bits
    recorded_bits = const_node.attrs.get("q.range_bits")
    if recorded_bits is None or recorded_bits == bits or method == "minmax" or plan.storage == "b1":
        return r
    lo, hi = weight_range(w, method, bits, plan.symmetric, axis, const_node.attrs.get("q.percentile", 99.99))
    return np.stack([np.atleast_1d(lo), np.atleast_1d(hi)], axis=1).astype(np.float64)


def _range(layout: _Layout, w: np.ndarray, const_node, name: str, plan: WeightPlan, method: str,
           out_axis: Optional[int]) -> tuple:
    """(lo, hi) per parameter: recorded by calibrate per channel or tensor, measured here per group."""
    if plan.group is not None:
        lo, hi = weight_range(layout.rows, method, plan.bits, plan.symmetric, axis=0)
        return layout.params(lo), layout.params(hi)
    r = recorded_range(const_node, name)
    if layout.axis is None:
        r = _for_width(r, w, const_node, plan, method, None)
        return r[:, 0].min(), r[:, 1].max()
    channels = layout.shape[0]
    if r.shape[0] not in (1, channels):
        raise QuantizeError(f"weight %{name}: q.range has {r.shape[0]} channels, the weight has {channels} "
                            f"along axis {layout.axis}; {RUN_CALIBRATE} again")
    r = _for_width(r, w, const_node, plan, method, out_axis if r.shape[0] > 1 else None)
    return np.broadcast_to(r[:, 0], (channels,)), np.broadcast_to(r[:, 1], (channels,))


@dataclass(frozen=True)
class Adjusted:
    """Masks over the parameters (flat, in parameter order) whose scale quantize_weight
    chose instead of the one their range gives."""

    degenerate: np.ndarray  # a (nearly) zero range, given an ordinary scale
    raised: np.ndarray      # raised to `min_scale` so the bias fits


def _scales(lo, hi, plan: WeightPlan, min_scale) -> tuple:
    """(scale, zero point, Adjusted), flat per parameter."""
    lo = np.array(lo, np.float64).reshape(-1)
    hi = np.array(hi, np.float64).reshape(-1)
    scale, _ = params_in(lo, hi, plan.storage, plan.symmetric, plan.qrange)
    lo, hi, flat = replace_degenerate(lo, hi, scale)
    scale, zp = params_in(lo, hi, plan.storage, plan.symmetric, plan.qrange)
    need = np.broadcast_to(np.asarray(0.0 if min_scale is None else min_scale, np.float64), scale.shape)
    raised = scale < need
    if raised.any():
        # scaling the range scales the step: zero stays exact and the zero point stays put
        grow = np.where(raised, need / scale.astype(np.float64), 1.0)
        scale, zp = params_in(lo * grow, hi * grow, plan.storage, plan.symmetric, plan.qrange)
    return scale, zp, Adjusted(flat, raised)


def _binary_scales(layout: _Layout, min_scale) -> tuple:
    # the scale minimising |w - s*sign(w)|^2 is the mean magnitude; an all-zero row has
    # none and keeps any, so it takes the largest (the rule of degenerate ranges)
    scale = layout.params(np.abs(layout.rows).mean(axis=1)).astype(np.float64).reshape(-1)
    flat = degenerate(scale)
    scale = np.where(flat, 1.0 if flat.all() else scale[~flat].max(), scale)
    need = np.broadcast_to(np.asarray(0.0 if min_scale is None else min_scale, np.float64), scale.shape)
    return np.maximum(scale, need), np.zeros(scale.shape, np.int32), Adjusted(flat, scale < need)


def quantize_weight(w: np.ndarray, const_node, name: str, plan: WeightPlan, out_axis: Optional[int],
                    in_axis: Optional[int], method: str, min_scale=None) -> tuple:
    """(integer storage array, QuantType, Adjusted) of float weight `w` under `plan`;
    `min_scale` (None, a scalar or one per parameter) bounds the scales from below."""
    layout = _layout(w, plan, out_axis, in_axis)
    if plan.storage == "b1":
        scale, zp, adjusted = _binary_scales(layout, min_scale)
    else:
        scale, zp, adjusted = _scales(*_range(layout, w, const_node, name, plan, method, out_axis), plan, min_scale)
    expressed = {"float64": "f64", "float16": "f16"}.get(str(w.dtype), "f32")
    t = QuantType(plan.storage, expressed, w.shape, np.reshape(scale, layout.shape).astype(np.float32),
                  np.reshape(zp, layout.shape).astype(np.int32), axis=layout.axis, group=plan.group)
    q = quantize(w, t)
    if plan.qrange is not None:
        q = np.clip(q, *plan.qrange)
    return q.astype(np.int8), t, adjusted  # weight storage is signed: i8, i4, i2 or b1
