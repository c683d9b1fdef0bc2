"""Weights prepared once at plan time: packed rows, zero points and accumulator bounds.

A convolution weight [Cout, Cin/g, *k] or linear weight [out, in] becomes Cout rows of
packed fields (`kernels.pack`); its zero points become one per row. `abs_row_sum`
(Σ|w - zp| per row) bounds the accumulator, so the executor can prove int32 suffices.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qcompiler.ir.types import QuantType

from .errors import NumbaBackendError
from .kernels.pack import PACKED_FIELDS, pack_rows, unpack_rows


@dataclass(frozen=True)
class PackedWeights:
    packed: np.ndarray      # [rows, bytes] uint8 (or [batch, rows, bytes])
    k: int                  # storage integers per row
    bits: int
    signed: bool
    zero_point: np.ndarray  # [rows] int32
    abs_row_sum: np.ndarray  # [rows] (or [batch, rows]) int64


def pack_weight_rows(rows: np.ndarray, t: QuantType, row_zero_points: np.ndarray, where: str) -> PackedWeights:
    """`rows`: [..., R, K] storage integers of a weight of type `t`; zero points per row."""
    if t.storage not in PACKED_FIELDS:
        raise NumbaBackendError(f"{where}: weight storage {t.storage} is not supported by the Numba backend "
                                f"(supported: {', '.join(PACKED_FIELDS)})")
    bits, signed = PACKED_FIELDS[t.storage]
    rows = np.asarray(rows)
    k = rows.shape[-1]
    flat = rows.reshape(-1, k)
    packed = pack_rows(flat, bits).reshape(rows.shape[:-1] + (-1,))
    zp = np.ascontiguousarray(row_zero_points, np.int32)
    centred = np.abs(rows.astype(np.int64) - zp.astype(np.int64)[:, None])
    return PackedWeights(np.ascontiguousarray(packed), k, bits, signed, zp, centred.sum(axis=-1))


def zero_points_per_row(t: QuantType, rows: int, axis: int, where: str) -> np.ndarray:
    """One zero point per row: the tensor's single one, or its per-channel ones along `axis`."""
    zp = t.zero_point.array.reshape(-1).astype(np.int32)
    if t.axis is None or zp.size == 1:
        return np.full(rows, zp[0] if zp.size else 0, np.int32)
    if t.group is not None or t.axis % t.rank != axis % t.rank or zp.size != rows:
        raise NumbaBackendError(f"{where}: weight zero points must be per tensor or one per output channel "
                                f"(axis {axis}), got {t.granularity} along axis {t.axis}")
    return zp


def needs_wide_accumulator(weights: PackedWeights, bias: np.ndarray, x_type: QuantType) -> bool:
    """Whether |acc| < 2^31 cannot be proven from the weights, bias and input storage range."""
    zp = int(x_type.zero_point.array.reshape(-1)[0])
    x_extent = max(abs(x_type.qmin - zp), abs(x_type.qmax - zp))
    bound = np.abs(bias.astype(np.int64)) + weights.abs_row_sum.astype(np.float64) * x_extent
    return bool(np.any(bound >= 2**31))


def centred_int16_rows(weights: PackedWeights):
    """[rows, k] int16 of w - zp for the int16 dot-product kernels, or None when a
    centred weight may not fit int16 (16-bit storage)."""
    if weights.bits > 8 or weights.packed.ndim != 2:
        return None
    rows = unpack_rows(weights.packed, weights.k, weights.bits, weights.signed) - weights.zero_point[:, None]
    return np.ascontiguousarray(rows, np.int16)


def fits_int16_centred(x_type: QuantType) -> bool:
    """Whether every centred input value x - zp of this storage fits int16."""
    zp = int(x_type.zero_point.array.reshape(-1)[0])
    return max(abs(x_type.qmin - zp), abs(x_type.qmax - zp)) <= 2**15 - 1


def tiled_rows16(rows16: np.ndarray, groups: int, lanes: int) -> np.ndarray:
    """[Cout, K] int16 rows -> [groups, Cout/groups rounded up to 4, K rounded up to `lanes`],
    zero-padded, for the 4×4 tile kernel (zero rows and columns add nothing)."""
    cout, k = rows16.shape
    per_group = cout // groups
    tiled = np.zeros((groups, -(-per_group // 4) * 4, -(-k // lanes) * lanes), np.int16)
    tiled[:, :per_group, :k] = rows16.reshape(groups, per_group, k)
    return tiled
