"""Our fixed-point arithmetic (qcompiler/numerics/fixed_point.py) in exact integer ONNX ops.

ONNX has no arithmetic right shift on signed integers (BitShift is unsigned only), so
the rounding shift is built from the floor division that Mod and Div give exactly:
Mod with fmod=0 takes the divisor's sign, so r = x mod 2^s lies in [0, 2^s), and
(x - r) / 2^s is an exact division (Div truncates, but there is nothing to truncate).
The rounding decision then reads r against half = 2^(s-1) just as the reference does
(for s = 0, r is always 0 and half is 1, so nothing rounds up).
"""
from __future__ import annotations

import numpy as np
import onnx_ir as ir

from qcompiler.ir.ops.quant_pool import MAX_MEAN_SHIFT
from qcompiler.ir.types import QuantType
from qcompiler.numerics.binary_threshold import binary_thresholds

from .conversions import CONTAINERS

INT64 = ir.DataType.INT64


def per_channel(array, rank: int, axis: int) -> np.ndarray:
    """A per-channel attribute (1 entry or one per channel) shaped to broadcast along
    `axis` of a rank-`rank` result."""
    a = np.asarray(array, np.int64).reshape(-1)
    if a.size == 1:
        return a.reshape(())
    shape = [1] * rank
    shape[axis % rank] = -1
    return a.reshape(shape)


def storage8(ctx, v) -> ir.Value:
    """Storage of an operand of ConvInteger / MatMulInteger, which take 8-bit integers."""
    if v.type.bits > 8:
        raise ctx.error(f"operand %{v.name} has {v.type.storage} storage; ONNX integer products take 8 bits")
    return ctx.storage(v)


def zero_point_input(ctx, t: QuantType, axis: int = 0):
    """The zero-point operand of an integer product: None when 0, a scalar when shared,
    else one per channel (shaped for `axis`)."""
    zps = t.zero_point.array.reshape(-1)
    dtype = CONTAINERS[t.storage].numpy()
    if not np.any(zps):
        return None
    if np.all(zps == zps[0]):
        return ctx.b.constant(np.array(zps[0], dtype))
    return ctx.b.constant(zps.astype(dtype))


def zero_point(t: QuantType) -> int:
    return int(t.zero_point.array.reshape(-1)[0])


def centered(ctx, stored: ir.Value, t: QuantType) -> ir.Value:
    """Storage minus zero point, in int64 (per-tensor types)."""
    x = ctx.b.op("Cast", [stored], {"to": INT64})
    zp = zero_point(t)
    return x if zp == 0 else ctx.b.op("Sub", [x, ctx.b.constant(np.array(zp, np.int64))])


def rounding_shift(ctx, x: ir.Value, shift: np.ndarray, mode: str) -> ir.Value:
    """round(x / 2^shift) for int64 `x`, ties broken by `mode`; `shift` (int64, already
    shaped to broadcast) lies in [0, 62]."""
    c = lambda a: ctx.b.constant(np.asarray(a, np.int64))  # noqa: E731
    divisor = np.left_shift(np.int64(1), shift)
    half = np.left_shift(np.int64(1), np.maximum(shift - 1, 0))
    r = ctx.b.op("Mod", [x, c(divisor)], {"fmod": 0})
    floor = ctx.b.op("Div", [ctx.b.op("Sub", [x, r]), c(divisor)])
    if mode == "half_up":  # r >= half
        up = ctx.b.op("Greater", [r, c(half - 1)])
    else:
        tie = ctx.b.op("Equal", [r, c(half)])
        if mode == "half_away":  # a negative tie is already rounded away from zero by the floor
            breaks_up = ctx.b.op("Not", [ctx.b.op("Less", [x, c(0)])])
        elif mode == "half_even":
            breaks_up = ctx.b.op("Equal", [ctx.b.op("Mod", [floor, c(2)], {"fmod": 0}), c(1)])
        else:
            raise ctx.error(f"unknown rounding mode {mode!r}")
        up = ctx.b.op("Or", [ctx.b.op("Greater", [r, c(half)]), ctx.b.op("And", [tie, breaks_up])])
    return ctx.b.op("Add", [floor, ctx.b.op("Cast", [up], {"to": INT64})])


def requantize(ctx, acc: ir.Value, out: QuantType, multiplier, shift, rounding: str, clamp, *, rank: int,
               axis: int = 1) -> ir.Value:
    """Output storage of int64 accumulator `acc`: times the multiplier, one rounding
    shift, plus the zero point, clamped to `clamp` (default: the storage range), in the
    storage's container type."""
    if out.storage == "b1":  # a threshold on the accumulator (numerics/binary_threshold.py)
        thresholds = per_channel(binary_thresholds(multiplier, shift, zero_point(out)), rank, axis)
        reaches = ctx.b.op("GreaterOrEqual", [acc, ctx.b.constant(thresholds)])
        signs = ctx.b.op("Where", [reaches, *(ctx.b.constant(np.array(s, np.int64)) for s in (1, -1))])
        return clamp_to_storage(ctx, signs, out, clamp)
    m = per_channel(multiplier, rank, axis)
    s = per_channel(shift, rank, axis)
    # a shift of 63 rounds every |acc · multiplier| < 2^62 to 0: multiply by 0 instead,
    # so 2^shift stays an int64
    m, s = np.where(s >= 63, 0, m), np.minimum(s, 62)
    return requantize_scaled(ctx, ctx.b.op("Mul", [acc, ctx.b.constant(m)]), out, s, rounding, clamp)


def requantize_scaled(ctx, scaled: ir.Value, out: QuantType, shift: np.ndarray, rounding: str, clamp) -> ir.Value:
    """Output storage of an int64 sum already multiplied: one rounding shift by `shift`
    (int64 in [0, 62], shaped to broadcast), the zero point, the clamp."""
    y = rounding_shift(ctx, scaled, shift, rounding)
    return clamp_to_storage(ctx, add_zero_point(ctx, y, out), out, clamp)


def add_zero_point(ctx, y: ir.Value, out: QuantType) -> ir.Value:
    zp = zero_point(out)
    return y if zp == 0 else ctx.b.op("Add", [y, ctx.b.constant(np.array(zp, np.int64))])


def clamp_to_storage(ctx, y: ir.Value, out: QuantType, clamp=None) -> ir.Value:
    """Clip int64 `y` to [lo, hi] and cast it to `out`'s storage container."""
    lo, hi = (out.qmin, out.qmax) if clamp is None else clamp
    clipped = ctx.b.op("Clip", [y, ctx.b.constant(np.array(lo, np.int64)), ctx.b.constant(np.array(hi, np.int64))])
    return ctx.b.op("Cast", [clipped], {"to": CONTAINERS[out.storage]})


def floor_divmod(ctx, x: ir.Value, divisor: ir.Value) -> tuple:
    """(floor(x / d), x mod d) for int64 x and a positive int64 d: Mod with fmod=0 takes
    the divisor's sign, so the remainder is in [0, d) and the division is exact."""
    r = ctx.b.op("Mod", [x, divisor], {"fmod": 0})
    return ctx.b.op("Div", [ctx.b.op("Sub", [x, r]), divisor]), r


def mean_requantize(ctx, sums: ir.Value, count: ir.Value, out: QuantType, multiplier: int, shift: int,
                    rounding: str, clamp=None) -> ir.Value:
    """qcompiler.ir.ops.quant_pool.mean_requantize in ONNX: zp_y + round(S · multiplier /
    (count · 2^shift)) for int64 sums S and a run-time int64 count, exact in int64."""
    m = ctx.b.constant(np.array(multiplier, np.int64))
    a, b = floor_divmod(ctx, sums, count)
    q2, r = floor_divmod(ctx, ctx.b.op("Mul", [b, m]), count)
    q = ctx.b.op("Add", [ctx.b.op("Mul", [a, m]), q2])
    nonzero = ctx.b.op("Cast", [ctx.b.op("Greater", [r, ctx.b.constant(np.array(0, np.int64))])], {"to": INT64})
    sticky = ctx.b.op("Add", [ctx.b.op("Add", [q, q]), nonzero])
    shifted = np.array(min(shift + 1, MAX_MEAN_SHIFT), np.int64)
    return clamp_to_storage(ctx, add_zero_point(ctx, rounding_shift(ctx, sticky, shifted, rounding), out), out,
                            clamp)
