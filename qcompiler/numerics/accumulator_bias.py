"""The bias of an integer conv / linear: int32 in units of the accumulator scale
s_x · s_w[c] (zero point 0), as every integer runtime stores it.

The lowering writes it (passes/lowering/products.py); both executors add the same
rounded bias when they simulate such a product in float (runtime/product_rounding.py),
so the fake-quant simulation and the integer kernels agree integer for integer. A float
bias would differ from the stored one by up to half an accumulator step, which flips a
rounding in ~0.1% of outputs and, compounded through a deep network, moves its output by
whole steps.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..ir.types import QuantType, Type
from .affine import quantize

# products whose third operand is a bias added to the accumulator
BIASED_PRODUCTS = ("conv1d", "conv2d", "linear")


def accumulator_scale(x_scale, w_scale) -> np.ndarray:
    """s_x · s_w per weight scale, flattened, in float32 as the kernels' requantization uses it."""
    return (np.float32(x_scale) * np.asarray(w_scale, np.float32)).reshape(-1)


def bias_type(expressed: str, channels: int, acc_scale: np.ndarray) -> QuantType:
    """The i32 type of a bias [channels] at the accumulator scale (one or one per channel)."""
    if acc_scale.size == 1:
        return QuantType("i32", expressed, (channels,), acc_scale.reshape(()), np.int32(0))
    return QuantType("i32", expressed, (channels,), acc_scale, np.zeros(channels, np.int32), axis=0)


def integer_bias(real: np.ndarray, expressed: str, acc_scale: np.ndarray) -> tuple:
    """(storage int32 [C], its QuantType) of a float bias [C] at the accumulator scale."""
    t = bias_type(expressed, real.shape[0], acc_scale)
    return quantize(real, t), t


def simulated_bias_type(x: QuantType, w_scale, bias: Type) -> Optional[QuantType]:
    """The type a float bias of a product of per-tensor `x` and a weight of scale
    `w_scale` is rounded to on the integer accumulator; None when the weight has no
    scale per output channel the accumulator counts in (`w_scale` None) or the bias is
    not a float."""
    if w_scale is None or isinstance(bias, QuantType):
        return None
    scale = accumulator_scale(x.scale.array.reshape(-1)[0], w_scale)
    return bias_type(x.expressed, int(bias.shape[0]), scale)
