"""qconv2d / qconv1d / qlinear with constant b1, i2 or u2 weights on the bit-serial kernels
(`kernels/bitserial.py`): weight bit planes and per-channel constants built once at load.

`products.py` asks `bitserial_plan` at preparation; None (other weight widths, weights
computed at run time, activations wider than 8 bits) keeps its own kernels, and so does a
call whose accumulator is not proven to fit int32.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qcompiler.ir.types import STORAGE_BITS, QuantType

from ..kernels.bitserial import qconv2d_bitserial_kernel, qlinear_bitserial_kernel
from ..kernels.bitserial_planes import (WEIGHT_PLANES, activation_planes, channel_run_bits, conv_weight_rows,
                                        weight_plane_rows)
from ..kernels.pack import unpack_rows
from ..weights import PackedWeights
from .common import Requant, zero_point


@dataclass(frozen=True)
class BitserialPlan:
    w_planes: np.ndarray       # uint64 [groups, rows, words]
    planes: int                # activation bit planes: 2, 4 or 8
    plane_coef: np.ndarray     # int64 [weight planes]
    x_coef: np.ndarray         # int64 [Cout]: offset - zp_w
    channel_const: np.ndarray  # int64 [Cout]: -z_u·Σ (w - zp_w)
    x_min: int                 # qmin of the activation storage: x_u = x - x_min
    z_u: int                   # the activation zero point in x_u units
    run_bits: int              # a convolution tap's channels in a row (`channel_run_bits`); 0 for linear


def bitserial_plan(w_t: QuantType, weights: PackedWeights, x_t: QuantType, groups: int, kernel=None):
    """The bit-serial form of constant packed weights [Cout, K] (a convolution's K = Cin/groups·kh·kw
    with `kernel` = (kh, kw)), or None when it does not apply."""
    if w_t.storage not in WEIGHT_PLANES or STORAGE_BITS[x_t.storage] > 8 or weights.packed.ndim != 2:
        return None
    coefficients, offset = WEIGHT_PLANES[w_t.storage]
    planes = activation_planes(STORAGE_BITS[x_t.storage])
    stored = unpack_rows(weights.packed, weights.k, weights.bits, weights.signed)
    zp_w = weights.zero_point.astype(np.int64)
    z_u = zero_point(x_t) - x_t.qmin
    centred_sum = stored.astype(np.int64).sum(axis=1) - weights.k * zp_w
    run_bits = 0
    if kernel is not None:
        cin_g = weights.k // (kernel[0] * kernel[1])
        run_bits = channel_run_bits(cin_g)
        stored = conv_weight_rows(stored.reshape(-1, cin_g, *kernel), run_bits)
    return BitserialPlan(weight_plane_rows(stored, w_t.storage, planes, groups), planes,
                         np.array(coefficients, np.int64), offset - zp_w, -z_u * centred_sum, x_t.qmin, z_u, run_bits)


def run_bitserial_conv(plan: BitserialPlan, centred: np.ndarray, kernel, stride, dilation, bias, rq: Requant,
                       out: np.ndarray) -> None:
    """centred: the padded, centred input [N, C, Hp, Wp]; out: [N, Cout, OH, OW] int32."""
    qconv2d_bitserial_kernel(centred, plan.z_u, plan.w_planes, plan.planes, plan.run_bits, plan.plane_coef,
                             plan.x_coef, plan.channel_const, kernel[0], kernel[1], stride[0], stride[1], dilation[0],
                             dilation[1], bias, rq.multiplier, rq.shift, rq.zero_point, rq.lo, rq.hi, rq.mode, out)


def run_bitserial_linear(plan: BitserialPlan, x2: np.ndarray, bias, rq: Requant) -> np.ndarray:
    """x2: activation storage [M, K] -> output storage [M, N] int32."""
    xu = np.ascontiguousarray(np.asarray(x2, np.int32) - plan.x_min, np.uint8)
    out = np.empty((x2.shape[0], plan.x_coef.size), np.int32)
    qlinear_bitserial_kernel(xu, plan.w_planes, plan.planes, plan.plane_coef, plan.x_coef, plan.channel_const,
                             bias, rq.multiplier, rq.shift, rq.zero_point, rq.lo, rq.hi, rq.mode, out)
    return out
