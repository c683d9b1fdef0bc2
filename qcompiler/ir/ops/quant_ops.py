"""Integer ops that move values between representations: quantize (float -> storage),
dequantize (storage -> float), requantize (storage -> storage with other parameters)
and qlut (a 2^bits-entry table from input storage to output storage, for activations).
"""
from __future__ import annotations

import numpy as np

from ...numerics.affine import dequantize as affine_dequantize
from ...numerics.affine import quantize as affine_quantize
from ..errors import VerifyError
from ..registry import Attr, op, torch_impl
from ..types import QuantType, is_float
from .quant_common import REQUANT_ATTRS, fmt_type, centered, check_requant, quant_operand, requantize_to, result_type


def _quantize_type(types, attrs, consts):
    if not is_float(types[0]):
        raise VerifyError(f"quantize: operand must be a float tensor, got {fmt_type(types[0])}")
    return [types[0]]


@op("quantize", inputs=["x"], infer=_quantize_type, integer=True)
def quantize(x, *, in_types, out_types):
    """Float -> storage of the result type (round half to even, clamp to the storage range)."""
    if not isinstance(out_types[0], QuantType):
        raise TypeError(f"the result of quantize must have a quantized type, got {fmt_type(out_types[0])}")
    return affine_quantize(x, out_types[0])


@torch_impl("quantize")
def quantize_torch(x):
    """The torch executor carries a quantized value as its real (fake-quantized) float and
    rounds every quantized result to its type, so on that carrier quantize is the identity."""
    return x


def _dequantize_type(types, attrs, consts):
    t = types[0]
    if not isinstance(t, QuantType):  # any granularity and storage, binary and per-group included
        raise VerifyError(f"dequantize: operand must be quantized (q<...>), got {fmt_type(t)}")
    return [result_type(t, t.shape)]


@op("dequantize", inputs=["x"], infer=_dequantize_type, integer=True)
def dequantize(x, *, in_types, out_types):
    """Storage -> the real values (x - zero_point) · scale, per tensor, channel or group."""
    return affine_dequantize(x, in_types[0])


@torch_impl("dequantize")
def dequantize_torch(x):
    """Identity on the torch executor's float carrier (see quantize_torch)."""
    return x


def _requantize_type(types, attrs, consts):
    t = quant_operand(types[0], "requantize", "x")
    check_requant(attrs, 1, "requantize")
    return [result_type(t, t.shape)]


@op("requantize", inputs=["x"], attrs=REQUANT_ATTRS, infer=_requantize_type, integer=True)
def requantize(x, *, multiplier, shift, rounding, in_types, out_types):
    """y = zp_out + round((x - zp_in) · multiplier · 2^-shift), clamped to the output storage."""
    return requantize_to(centered(x, in_types[0]), out_types[0], multiplier.array, shift.array, rounding)


def _lut_type(types, attrs, consts):
    t = quant_operand(types[0], "qlut", "x", max_bits=16)
    table = attrs["table"].array
    entries = t.qmax - t.qmin + 1
    if table.dtype.kind not in "iu" or table.shape != (entries,):
        raise VerifyError(f"qlut: 'table' must be an integer dense of {entries} entries (one per {t.storage} value), "
                          f"got {table.dtype}{list(table.shape)}")
    return [result_type(t, t.shape)]


@op("qlut", inputs=["x"], attrs={"table": Attr("dense", doc="output storage per input storage value, from qmin")},
    infer=_lut_type, integer=True)
def qlut(x, *, table, in_types, out_types):
    """y = table[x - qmin]: any elementwise function of an 8-bit value, exactly."""
    return table.array.astype(np.int32)[np.asarray(x, np.int64) - in_types[0].qmin]
