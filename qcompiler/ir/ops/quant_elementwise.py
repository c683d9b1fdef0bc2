"""Integer elementwise arithmetic: qadd and qmul (numpy broadcasting, per-tensor operands).

qadd rescales both operands to the output with one shared shift,
    y = zp + round(((a - zp_a)·multiplier_a + (b - zp_b)·multiplier_b) · 2^-shift),
so the sum is rounded once (the int64 sum of ≤16-bit operands times < 2^31 cannot
overflow). qmul forms the exact product (a - zp_a)(b - zp_b) and requantizes it.
"""
from __future__ import annotations

import numpy as np

from ...numerics.fixed_point import ROUNDING_MODES, rounding_shift
from ..registry import Attr, op
from .infer import broadcast_shapes
from .quant_common import (CLAMP_ATTR, REQUANT_ATTRS, centered, check_clamp, check_requant, quant_operand,
                           requantize_to, result_type)

QADD_ATTRS = {
    "multiplier_a": Attr("dense", doc="i32: a's real multiplier s_a/s_out = multiplier_a · 2^-shift"),
    "multiplier_b": Attr("dense", doc="i32: b's real multiplier s_b/s_out = multiplier_b · 2^-shift"),
    "shift": Attr("dense", doc="i32 right shift shared by both operands"),
    "rounding": Attr("str", choices=ROUNDING_MODES),
    **CLAMP_ATTR,
}


def _binary_infer(name: str, multipliers: tuple):
    def infer(types, attrs, consts):
        a = quant_operand(types[0], name, "a", max_bits=16)
        b = quant_operand(types[1], name, "b", max_bits=16)
        check_requant(attrs, 1, name, multipliers)
        check_clamp(attrs["clamp"], name)
        return [result_type(a, broadcast_shapes(a.shape, b.shape))]

    return infer


@op("qadd", inputs=["a", "b"], attrs=QADD_ATTRS, infer=_binary_infer("qadd", ("multiplier_a", "multiplier_b")),
    integer=True)
def qadd(a, b, *, multiplier_a, multiplier_b, shift, rounding, clamp, in_types, out_types):
    """Integer a + b with one rounding."""
    out = out_types[0]
    scaled = (centered(a, in_types[0]) * np.int64(multiplier_a.array.reshape(()))
              + centered(b, in_types[1]) * np.int64(multiplier_b.array.reshape(())))
    y = rounding_shift(scaled, shift.array.reshape(()), rounding) + int(out.zero_point.array.reshape(-1)[0])
    return np.clip(y, clamp[0], clamp[1]).astype(np.int32)


@op("qmul", inputs=["a", "b"], attrs={**REQUANT_ATTRS, **CLAMP_ATTR}, infer=_binary_infer("qmul", ("multiplier",)),
    integer=True)
def qmul(a, b, *, multiplier, shift, rounding, clamp, in_types, out_types):
    """Integer a · b: exact product of the centred operands, requantized by s_a·s_b/s_out."""
    acc = centered(a, in_types[0]) * centered(b, in_types[1])
    return requantize_to(acc, out_types[0], multiplier.array, shift.array, rounding, clamp)
