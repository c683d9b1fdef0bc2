"""What integer ops share: operand checks on quantized types, centering storage by the
zero point, the requantization attributes and applying them.

Integer op references receive storage integers and the node's types (`in_types`,
`out_types`); zero points and scales are read from those types, never from attributes.
Inference returns the plain float type the result stands for, so a declared QuantType
result refines it (verifier `_compatible`).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ...numerics.affine import broadcast_params
from ...numerics.binary_threshold import binarize, binary_thresholds
from ...numerics.fixed_point import MAX_SHIFT, ROUNDING_MODES, requantize
from ..errors import VerifyError
from ..printer import format_type
from ..registry import Attr
from ..types import QuantType, TensorType, Type

REQUANT_ATTRS = {
    "multiplier": Attr("dense", doc="i32 in [2^30, 2^31): real multiplier = multiplier · 2^-shift"),
    "shift": Attr("dense", doc="i32 right shift, in [0, 63]"),
    "rounding": Attr("str", choices=ROUNDING_MODES),
}
CLAMP_ATTR = {"clamp": Attr("ints", doc="[lo, hi] in output storage: storage range ∩ fused activation")}


def quant_operand(t: Optional[Type], where: str, role: str, *, per_tensor: bool = True,
                  max_bits: int = 32, binary: bool = False, grouped: bool = False) -> QuantType:
    """The QuantType of an operand, or a VerifyError saying what it is instead. `binary`
    admits b1 storage (±1 with zero point 0, held like i8) and `grouped` per-group
    parameters: a product's weight operand."""
    if not isinstance(t, QuantType):
        shown = "absent" if t is None else fmt_type(t)
        raise VerifyError(f"{where}: operand '{role}' must be quantized (q<...>), got {shown}")
    if per_tensor and t.axis is not None:
        raise VerifyError(f"{where}: operand '{role}' must be quantized per tensor, got {t.granularity} {fmt_type(t)}")
    if t.group is not None and not grouped:
        raise VerifyError(f"{where}: operand '{role}' is quantized per group ({fmt_type(t)}); integer ops take "
                          "per-tensor or per-channel operands")
    if (t.storage == "b1" and not binary) or t.bits > max_bits:
        raise VerifyError(f"{where}: operand '{role}' has storage {t.storage}; this op takes 2..{max_bits}-bit storage")
    return t


def bias_operand(t: Optional[Type], where: str) -> None:
    """A bias is int32 storage with zero point 0 (scale s_in·s_w per channel)."""
    if t is None:
        return
    if isinstance(t, QuantType) and t.storage == "i32" and not np.any(t.zero_point.array):
        return
    if isinstance(t, TensorType) and t.dtype == "i32":
        return
    raise VerifyError(f"{where}: bias must be i32 storage with zero point 0, got {fmt_type(t)}")


def result_type(t: QuantType, shape) -> TensorType:
    return TensorType(t.expressed, shape)


def check_requant(attrs: dict, channels, where: str, names=("multiplier",)) -> None:
    """Multipliers in [0, 2^31) and shifts in [0, 63], one value or one per channel."""
    arrays = {n: attrs[n].array for n in (*names, "shift")}
    for n, a in arrays.items():
        if a.dtype.kind not in "iu":
            raise VerifyError(f"{where}: '{n}' must be an integer dense, got {a.dtype}")
        if a.size != 1 and (not isinstance(channels, int) or a.size != channels or a.ndim != 1):
            raise VerifyError(f"{where}: '{n}' needs 1 value or one per output channel ({channels}), "
                              f"got shape {list(a.shape)}")
    for n in names:
        if np.any(arrays[n] < 0) or np.any(arrays[n] >= 2**31):
            raise VerifyError(f"{where}: '{n}' entries must be in [0, 2^31)")
    if np.any(arrays["shift"] < 0) or np.any(arrays["shift"] > MAX_SHIFT):
        raise VerifyError(f"{where}: 'shift' entries must be in [0, {MAX_SHIFT}]")


def check_clamp(clamp, where: str) -> None:
    if len(clamp) != 2 or clamp[0] > clamp[1]:
        raise VerifyError(f"{where}: 'clamp' must be [lo, hi] with lo <= hi, got {list(clamp)}")


def centered(q: np.ndarray, t: QuantType) -> np.ndarray:
    """Storage minus zero point in int64: the integer the real value is a multiple of."""
    _, zp = broadcast_params(t, q.shape)
    return np.asarray(q, np.int64) - zp.astype(np.int64)


def per_channel(a: np.ndarray, rank: int, axis: int) -> np.ndarray:
    """A per-channel attribute array shaped to broadcast along `axis` of a rank-`rank` result."""
    if a.size == 1:
        return a.reshape(())
    shape = [1] * rank
    shape[axis] = -1
    return a.reshape(shape)


def requantize_to(acc: np.ndarray, out: QuantType, multiplier: np.ndarray, shift: np.ndarray, rounding: str,
                  clamp=None, channel_axis: int = 1) -> np.ndarray:
    """Requantize an int32 accumulator into `out` storage, per channel along `channel_axis`."""
    if not isinstance(out, QuantType) or out.axis is not None:
        raise TypeError(f"the result must have a per-tensor quantized type, got {fmt_type(out)}")
    lo, hi = (out.qmin, out.qmax) if clamp is None else clamp
    zp = int(out.zero_point.array.reshape(-1)[0])
    if out.storage == "b1":  # a threshold, not a rounding (numerics/binary_threshold.py)
        thresholds = binary_thresholds(multiplier, shift, zp)
        return np.clip(binarize(acc, per_channel(thresholds, acc.ndim, channel_axis)), lo, hi).astype(np.int32)
    m = per_channel(np.asarray(multiplier), acc.ndim, channel_axis)
    s = per_channel(np.asarray(shift), acc.ndim, channel_axis)
    return requantize(acc, m, s, zp, lo, hi, rounding)


def fmt_type(t) -> str:
    return format_type(t) if isinstance(t, Type) else repr(t)
