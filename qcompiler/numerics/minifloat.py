"""Minifloat codes: decode, round-to-nearest-even encode, saturating and non-saturating casts.

A code is an unsigned integer of 1 + e + m bits: sign, exponent field, mantissa field.
Exponent field 0 holds the subnormals (0.m · 2^(1-bias)), every other field the normals
(1.m · 2^(E-bias)). The top exponent field depends on the encoding:

- "ieee": Inf (mantissa 0) and NaN (any other mantissa), as E5M2;
- "fn": finite, except the all-ones code which is NaN, as FP8 E4M3FN;
- "finite": every code is a number (no NaN, no Inf: one more binade than "ieee"),
  as the OCP 6- and 4-bit formats and short floats without NaN/Inf.

Rounding compares the magnitude with the midpoints between consecutive representable
magnitudes; positive codes increase with the value, so at an exact midpoint the even
code (even mantissa) wins, which is IEEE round-half-to-even.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..ir.types import MinifloatType

ENCODINGS = ("ieee", "fn", "finite")


@dataclass(frozen=True)
class MinifloatFormat:
    exponent_bits: int
    mantissa_bits: int
    bias: int
    encoding: str

    def __post_init__(self):
        if self.encoding not in ENCODINGS:
            raise ValueError(f"unknown minifloat encoding {self.encoding!r}; expected one of {ENCODINGS}")

    @property
    def bits(self) -> int:
        return 1 + self.exponent_bits + self.mantissa_bits

    @property
    def sign_bit(self) -> int:
        return 1 << (self.exponent_bits + self.mantissa_bits)

    @property
    def max_code(self) -> int:
        """The positive code of the largest finite value."""
        top = self.sign_bit - 1
        return {"ieee": top - (1 << self.mantissa_bits), "fn": top - 1, "finite": top}[self.encoding]

    @property
    def max_value(self) -> float:
        return float(positive_values(self)[-1])

    @property
    def nan_code(self):
        """The positive NaN code (None when every code is finite)."""
        return {"ieee": self.sign_bit - 1, "fn": self.sign_bit - 1, "finite": None}[self.encoding]

    @property
    def inf_code(self):
        return self.sign_bit - (1 << self.mantissa_bits) if self.encoding == "ieee" else None


def format_of(t: MinifloatType) -> MinifloatFormat:
    encoding = "ieee" if not t.no_nan_inf else ("finite" if t.finite else "fn")
    return MinifloatFormat(t.exponent_bits, t.mantissa_bits, t.bias, encoding)


@lru_cache(maxsize=None)
def decode_table(fmt: MinifloatFormat) -> np.ndarray:
    """Value of every code 0 .. 2^bits - 1 (float64, exact; NaN/Inf where the encoding has them)."""
    codes = np.arange(1 << fmt.bits)
    sign = np.where(codes & fmt.sign_bit, -1.0, 1.0)
    exponent = (codes >> fmt.mantissa_bits) & ((1 << fmt.exponent_bits) - 1)
    mantissa = (codes & ((1 << fmt.mantissa_bits) - 1)) / float(1 << fmt.mantissa_bits)
    magnitude = np.where(exponent == 0, np.ldexp(mantissa, 1 - fmt.bias),
                         np.ldexp(1.0 + mantissa, exponent - fmt.bias))
    magnitude[fmt.max_code + 1:fmt.sign_bit] = np.nan
    magnitude[fmt.sign_bit + fmt.max_code + 1:] = np.nan
    if fmt.inf_code is not None:
        magnitude[[fmt.inf_code, fmt.sign_bit | fmt.inf_code]] = np.inf
    table = sign * magnitude
    table.flags.writeable = False
    return table


def positive_values(fmt: MinifloatFormat) -> np.ndarray:
    """The finite non-negative values, increasing; index = code."""
    return decode_table(fmt)[:fmt.max_code + 1]


@lru_cache(maxsize=None)
def _midpoints(fmt: MinifloatFormat) -> np.ndarray:
    """Midpoints between consecutive magnitudes, plus the one between the largest value
    and the next value the exponent field would give (where an overflow begins)."""
    values = positive_values(fmt)
    beyond = values[-1] + (values[-1] - values[-2])
    return (np.append(values, beyond)[1:] + np.append(values, beyond)[:-1]) / 2


def encode(x, fmt: MinifloatFormat, saturate: bool = True) -> np.ndarray:
    """Float array -> codes (uint16 container), rounding to nearest, ties to even.

    Finite values past the largest magnitude saturate to it when `saturate`; otherwise
    they become Inf ("ieee") or NaN ("fn"), and a "finite" format, having neither,
    refuses them. Inf saturates to the largest value except in "ieee", which keeps it
    (as ONNX's saturating casts do); NaN becomes the NaN code."""
    x = np.asarray(x, dtype=np.float32)
    magnitude = np.abs(x).astype(np.float64)
    mids = _midpoints(fmt)
    code = np.searchsorted(mids, magnitude, side="left")  # count of midpoints below the magnitude
    at_tie = (code < len(mids)) & (mids[np.minimum(code, len(mids) - 1)] == magnitude)
    code = code + (at_tie & (code % 2 == 1))  # an exact midpoint goes to the even code above
    nan, inf = np.isnan(x), np.isinf(x)
    overflow = ((code > fmt.max_code) & ~nan) | inf
    if fmt.encoding == "finite" and ((overflow.any() and not saturate) or nan.any()):
        bad = "NaN" if nan.any() else f"{float(np.abs(x[overflow]).max())!r}"
        raise ValueError(f"minifloat e{fmt.exponent_bits}m{fmt.mantissa_bits} without NaN/Inf cannot represent {bad} "
                         f"(largest value {fmt.max_value}); use a saturating cast or a larger scale")
    code = np.minimum(code, fmt.max_code)
    if not saturate and overflow.any():
        code = np.where(overflow, fmt.inf_code if fmt.encoding == "ieee" else fmt.nan_code, code)
    if fmt.encoding == "ieee":
        code = np.where(inf, fmt.inf_code, code)
    if fmt.nan_code is not None:
        code = np.where(nan, fmt.nan_code, code)
    code = np.where(np.signbit(x) & ~nan, code | fmt.sign_bit, code)
    return code.astype(np.uint16)


def decode(codes, fmt: MinifloatFormat) -> np.ndarray:
    return decode_table(fmt)[np.asarray(codes).astype(np.intp)].astype(np.float32)


def round_to_format(x, fmt: MinifloatFormat, saturate: bool = True) -> np.ndarray:
    """x snapped to the nearest representable value (float32)."""
    return decode(encode(x, fmt, saturate), fmt)


def broadcast_scale(t: MinifloatType, shape: tuple) -> np.ndarray:
    """The type's scale (per tensor, or per channel along `axis`) shaped to broadcast against `shape`."""
    scale = np.asarray(t.scale_array, dtype=np.float32)
    if t.axis is None:
        return scale.reshape(())
    view = [1] * len(shape)
    view[t.axis % len(shape)] = -1
    return scale.reshape(view)


def quantize(x, t: MinifloatType) -> np.ndarray:
    """Real values -> codes of a scaled minifloat: code(x / scale), saturating (a tensor
    past its calibrated range clips, as integer quantization does)."""
    x = np.asarray(x, dtype=np.float32)
    return encode(x / broadcast_scale(t, x.shape), format_of(t))


def dequantize(codes, t: MinifloatType) -> np.ndarray:
    codes = np.asarray(codes)
    return decode(codes, format_of(t)) * broadcast_scale(t, codes.shape)


def fake_quantize(x, t: MinifloatType) -> np.ndarray:
    return dequantize(quantize(x, t), t)
