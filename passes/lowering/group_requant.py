"""Requantization of a product whose weight is quantized per group (blocks along the
reduction axis, qcompiler/ir/ops/quant_group.py): one dyadic multiplier per weight
block, M_g = s_in · s_w[g] / s_out, all blocks of an output channel on that channel's
shift (the largest block's multiplier lies in [2^30, 2^31)), and the i32 bias in units
s_in · max_g s_w[g], the channel's largest block scale."""
from __future__ import annotations

import numpy as np

from qcompiler.ir.dense import Dense
from qcompiler.ir.types import QuantType
from qcompiler.numerics.fixed_point import quantize_multipliers_per_row


def weight_reduction_axis(op: str, w: QuantType) -> int:
    """The weight axis a product sums over (where groups may run)."""
    return w.rank - 2 if op == "matmul" else 1


def grouped_weight_ok(op: str, w: QuantType) -> bool:
    return w.rank >= 2 and w.axis % w.rank == weight_reduction_axis(op, w) and w.bits <= 16


def group_requant(x_scale: float, w: QuantType, weight_axis: int, out_scale: float) -> tuple:
    """(multiplier / shift attributes, bias scale per output channel)."""
    acc_scale = np.float32(x_scale) * w.scale.array.astype(np.float32)  # one per block
    rows = np.moveaxis(acc_scale, weight_axis, 0)
    multiplier, shift = quantize_multipliers_per_row(rows.reshape(rows.shape[0], -1).astype(np.float64) / out_scale)
    multiplier = np.moveaxis(multiplier.reshape(rows.shape), 0, weight_axis)
    bias_scale = rows.reshape(rows.shape[0], -1).max(axis=1)
    return {"multiplier": Dense(np.ascontiguousarray(multiplier)), "shift": Dense(shift)}, bias_scale
