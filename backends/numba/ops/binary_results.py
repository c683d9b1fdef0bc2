"""Binary (b1) results of qconv / qlinear / requantize: a threshold on the accumulator
(qcompiler/numerics/binary_threshold.py), not a rounding. The kernels run with a
requantization that returns the accumulator itself (M = 2^30 · 2^-30 = 1, zero point 0,
int32 container, no clamp), and the step compares it with one integer threshold per
output channel (kernels/binary_threshold.py), writing ±1 in int8: the same integers as the
reference.
"""
from __future__ import annotations

import numpy as np

from qcompiler.ir.core import Node
from qcompiler.numerics.binary_threshold import binary_thresholds

from ..kernels.binary_threshold import binarize_channels
from .common import Requant, attrs_of, quant_result, zero_point

INT32 = np.iinfo(np.int32)


class BinaryFinish:
    """The int32 accumulators (channels on `channel_axis`) -> the b1 result in int8: `hi` where
    acc >= the channel's threshold, else `lo` (binarize then clamp, in one pass: +1 clamps to hi
    and -1 to lo, both in [-1, 1]). Kernels that finish in their own epilogue (the bit-serial
    conv) read `thresholds`, `lo` and `hi`."""

    def __init__(self, thresholds: np.ndarray, lo: int, hi: int, channel_axis: int):
        self.thresholds, self.lo, self.hi, self.channel_axis = thresholds, lo, hi, channel_axis

    def __call__(self, acc: np.ndarray) -> np.ndarray:
        dims = acc.shape
        acc = np.ascontiguousarray(np.atleast_1d(acc))
        axis = self.channel_axis % acc.ndim
        shape = (int(np.prod(acc.shape[:axis])), acc.shape[axis], int(np.prod(acc.shape[axis + 1:])))
        out = np.empty(shape, np.int8)
        per_channel = np.ascontiguousarray(np.broadcast_to(self.thresholds, shape[1:2]))
        binarize_channels(acc.reshape(shape), per_channel, np.int8(self.lo), np.int8(self.hi), out)
        return out.reshape(dims)


def binary_result(node: Node, rq: Requant, channel_axis: int) -> tuple:
    """(the Requant the kernels run with, a function from their int32 output to the node's
    result): `rq` and the identity unless the result is b1 (then a `BinaryFinish`)."""
    out = quant_result(node)
    if out.storage != "b1":
        return rq, lambda y: y
    attrs = attrs_of(node)
    thresholds = binary_thresholds(attrs["multiplier"].array, attrs["shift"].array, zero_point(out))
    thresholds = np.array(np.broadcast_to(thresholds, rq.shift.shape), np.int64)
    channels = rq.shift.size
    unit = Requant((np.full(channels, 2**30, np.int64),), np.full(channels, 30, np.int64), rq.mode, 0,
                   int(INT32.min), int(INT32.max), np.dtype(np.int32))
    return unit, BinaryFinish(thresholds, rq.lo, rq.hi, channel_axis)
