"""The integer grid of one weight during incremental quantization, and the choice of
which weights join the frozen (quantized) part in a round.

The grid is fixed once per bit level from the weight at that moment (per output channel
or per tensor, range by `minmax` or `mse`, symmetry from the target), so the integers of
weights frozen early stay valid while the others are re-trained.
"""
from __future__ import annotations

import numpy as np

from qcompiler.ir.types import STORAGE_BITS, QuantType
from qcompiler.numerics.affine import fake_quantize, params_from_range

from ..calibration.weight_ranges import weight_range
from .magnitude import pruned_count

ORDERS = ("magnitude", "error")
GRANULARITIES = ("channel", "tensor")
METHODS = ("minmax", "mse")
EXPRESSED = {"float64": "f64", "float16": "f16"}


def weight_grid(w: np.ndarray, storage: str, granularity: str, method: str, symmetric: bool) -> QuantType:
    axis = 0 if granularity == "channel" else None
    lo, hi = weight_range(w, method, STORAGE_BITS[storage], symmetric, axis=axis)
    scale, zero_point = params_from_range(lo, hi, storage, symmetric)
    shape = (w.shape[0],) if axis == 0 else ()
    return QuantType(storage, EXPRESSED.get(str(w.dtype), "f32"), w.shape, np.reshape(scale, shape),
                     np.reshape(zero_point, shape), axis=axis)


def freeze_more(w: np.ndarray, frozen: np.ndarray, fraction: float, grid: QuantType, order: str) -> np.ndarray:
    """`frozen` grown to round(fraction · size) weights: the largest magnitudes first
    (INQ), or those the grid represents best first (`error`)."""
    wanted = pruned_count(fraction, w.size) - int(frozen.sum())
    if wanted <= 0:
        return frozen
    if order == "magnitude":
        priority = np.abs(w)
    else:
        priority = -np.abs(w - fake_quantize(w, grid))
    priority = np.where(frozen, -np.inf, priority.astype(np.float64)).reshape(-1)
    grown = frozen.reshape(-1).copy()
    grown[np.argsort(-priority, kind="stable")[:wanted]] = True
    return grown.reshape(w.shape)
