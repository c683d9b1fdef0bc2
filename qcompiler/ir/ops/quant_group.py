"""Group-wise weights in the integer products (qconv1d, qconv2d, qlinear, qmatmul).

A weight quantized per group (QuantType `group`: blocks of `group` elements along its
reduction axis, one scale and zero point per block) gives every block its own int32
partial sum acc_g = Σ_block (x - zp_x)(w - zp_w[g]). The op's `multiplier` then has the
weight's parameter shape, one entry per block (M_g = s_x·s_w[g]/s_y at its output
channel's shift), and `shift` one entry per output channel (or one):

    y[c] = clamp(zp_y + round((Σ_g multiplier[g]·acc_g + bias[c]·max_g multiplier[g]) / 2^shift[c]))

The partial sums are requantized onto one fixed-point sum per output (int64, exact);
the bias is i32 in units s_x·max_g s_w[g] of its channel, i.e. of the block whose
multiplier is the largest. By distributivity the sum is the product with the weights
(w - zp_w)·multiplier_g, which is how the reference computes it. The verifier proves
from the types that partial sums fit int32 and the sum int64.
"""
from __future__ import annotations

import numpy as np

from ...numerics.fixed_point import requantize_scaled
from ..errors import VerifyError
from ..registry import run_reference
from ..types import QuantType
from .quant_common import check_requant, per_channel


def _max_centered(t: QuantType) -> int:
    zp = t.zero_point.array.astype(np.int64)
    return int(np.max(np.maximum(zp - t.qmin, t.qmax - zp)))


def check_grouped(x: QuantType, w: QuantType, attrs: dict, weight_axis: int, reduction_axis: int,
                  where: str) -> None:
    """The weight's groups run along the reduction axis, `multiplier` has one entry per
    block, `shift` one per output channel, and the arithmetic cannot overflow."""
    if w.rank < 2 or w.axis % w.rank != reduction_axis % w.rank:
        raise VerifyError(f"{where}: a per-group weight needs its groups along the reduction axis "
                          f"{reduction_axis % max(w.rank, 1)}, got axis {w.axis} of a rank-{w.rank} weight")
    m = attrs["multiplier"].array
    blocks = w.scale.array.shape
    if m.dtype.kind not in "iu" or m.shape != blocks:
        raise VerifyError(f"{where}: 'multiplier' of a per-group weight needs one integer entry per weight block, "
                          f"shape {list(blocks)}, got {m.dtype}{list(m.shape)}")
    if np.any(m < 0) or np.any(m >= 2**31):
        raise VerifyError(f"{where}: 'multiplier' entries must be in [0, 2^31)")
    check_requant(attrs, w.shape[weight_axis], where, names=())
    if not w.is_static:
        return
    terms = int(np.prod(w.shape, dtype=np.int64)) // int(w.shape[weight_axis])
    term = _max_centered(x) * _max_centered(w)
    if w.group * term >= 2**31:
        raise VerifyError(f"{where}: a group of {w.group} products of magnitude up to {term} may leave the int32 "
                          "partial sum")
    if (terms * term + 2**31) * int(m.max(initial=0)) >= 2**63:
        raise VerifyError(f"{where}: {terms} products of magnitude up to {term} (plus an i32 bias) times "
                          f"multipliers up to {int(m.max())} may overflow the int64 fixed-point sum")


def bias_multipliers(multiplier: np.ndarray, weight_axis: int) -> np.ndarray:
    """Per output channel, its largest block multiplier (the bias's units)."""
    m = np.moveaxis(np.asarray(multiplier, np.int64), weight_axis, 0)
    return m.reshape(m.shape[0], -1).max(axis=1)


def grouped_product(float_op: str, xc: np.ndarray, wc: np.ndarray, b, w: QuantType, out: QuantType,
                    float_attrs: dict, multiplier: np.ndarray, shift: np.ndarray, rounding: str, clamp,
                    weight_axis: int, channel_axis: int) -> np.ndarray:
    """Output storage of a group-wise product of centred int64 operands."""
    m = np.asarray(multiplier, np.int64)
    operands = [xc, wc * np.repeat(m, w.group, axis=w.axis % w.rank)]
    if b is not None:
        operands.append(np.asarray(b, np.int64).reshape(-1) * bias_multipliers(m, weight_axis))
    total = np.asarray(run_reference(float_op, operands, float_attrs)[0], np.int64)
    axis = channel_axis % max(total.ndim, 1)
    lo, hi = clamp
    return requantize_scaled(total, per_channel(np.asarray(shift), total.ndim, axis),
                             int(out.zero_point.array.reshape(-1)[0]), lo, hi, rounding)
