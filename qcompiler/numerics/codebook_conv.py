"""The integer arithmetic of a codebook convolution: the reference the Numba kernel
(backends/numba/codebook_conv.py) must equal exactly.

    acc[n, o] = bias[o] + Σ_j (x[n, g·Cin/g + j] - zp_x) ⋆ codebook[indices[o, j]]
    y = clamp(round(acc · multiplier[o] / 2^shift[o]) + zp_y, lo, hi)

with ⋆ the 2-D cross-correlation of the conv window (stride, zero padding of the centred
input — i.e. padding with zp_x, real 0 —, dilation, groups). acc is an exact integer
computed in int64 by the float conv2d reference on the materialized integer weight
codebook[indices], so the window rules are conv2d's; it must fit int32, as in every
integer op (the reference raises otherwise). `Requant.identity` returns acc itself.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..ir.registry import run_reference
from .fixed_point import requantize

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


@dataclass(frozen=True)
class Window:
    stride: tuple = (1, 1)
    pad: tuple = (0, 0, 0, 0)  # ONNX order: top, left, bottom, right
    dilation: tuple = (1, 1)
    groups: int = 1

    def attrs(self) -> dict:
        return {"stride": list(self.stride), "pad": list(self.pad), "dilation": list(self.dilation),
                "groups": self.groups}


@dataclass(frozen=True)
class Requant:
    multiplier: np.ndarray  # int64 [Cout], each in [0, 2^31)
    shift: np.ndarray       # int64 [Cout], each in [0, 63]
    zero_point: int = 0
    lo: int = INT32_MIN
    hi: int = INT32_MAX
    rounding: str = "half_even"

    @staticmethod
    def identity(channels: int) -> "Requant":
        """acc · 2^30 / 2^30: the accumulator itself, unclamped in int32."""
        return Requant(np.full(channels, 2**30, np.int64), np.full(channels, 30, np.int64))


def codebook_weight(codebook: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """The integer weight [Cout, Cin/g, kh, kw] the codebook and indices stand for."""
    return np.asarray(codebook, np.int64)[np.asarray(indices, np.int64)]


def codebook_accumulators(x: np.ndarray, x_zero_point: int, codebook: np.ndarray, indices: np.ndarray,
                          bias: Optional[np.ndarray], window: Window) -> np.ndarray:
    """acc [N, Cout, OH, OW] in int64, checked to fit int32."""
    operands = [np.asarray(x, np.int64) - x_zero_point, codebook_weight(codebook, indices)]
    if bias is not None:
        operands.append(np.asarray(bias, np.int64))
    acc = np.asarray(run_reference("conv2d", operands, window.attrs())[0], np.int64)
    if acc.size and (acc.min() < INT32_MIN or acc.max() > INT32_MAX):
        raise OverflowError(f"accumulator outside int32: [{acc.min()}, {acc.max()}]")
    return acc


def codebook_qconv2d(x: np.ndarray, x_zero_point: int, codebook: np.ndarray, indices: np.ndarray,
                     bias: Optional[np.ndarray], window: Window, requant: Requant) -> np.ndarray:
    """Output storage [N, Cout, OH, OW] int32: the accumulators requantized per output channel."""
    acc = codebook_accumulators(x, x_zero_point, codebook, indices, bias, window)
    per_channel = (1, -1, 1, 1)
    return requantize(acc, np.reshape(requant.multiplier, per_channel), np.reshape(requant.shift, per_channel),
                      requant.zero_point, requant.lo, requant.hi, requant.rounding)
