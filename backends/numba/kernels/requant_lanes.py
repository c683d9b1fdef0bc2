"""Requantization of 16 accumulators of one output channel at once, written in LLVM IR so
every step is a 16-lane vector operation and the result goes straight into the output row
in its storage container with a masked store: no scalar tail, whatever the row length
(7, 14 or 28 outputs, where a loop left to LLVM's vectorizer runs mostly scalar; two rows
at once when both fit), and no int32 copy of the row.

The same integers as `rounding.requantize_one` and `requant_vector.shift_rounded`: the
raw int32 sum minus its zero-point correction, both modulo 2^32 (a wrapped u8×s8 sum),
widened to int64, plus the bias, times the multiplier, floor shift plus [remainder > half
- tie] with the tie bit of the rounding mode, clamped to [lo - zp, hi - zp], truncated
to the output's width and the zero point added there (the clamp keeps the sum inside).
"""
from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from qcompiler.numerics.fixed_point import MAX_SHIFT

from .llvm_tile import I32, I64, ArrayArg, const, declare, load, splat
from .rounding import HALF_AWAY, HALF_EVEN, HALF_UP

LANES = 16


def _codegen(context, builder, signature, args):
    raw_a, out_a = ArrayArg(context, builder, signature, args, 0), ArrayArg(context, builder, signature, args, 10)
    scalars = [context.cast(builder, value, type_, types.int64)
               for value, type_ in zip(args, signature.args) if isinstance(type_, types.Integer)]
    start, correction, bias, multiplier, shift, zero_point, lo, hi, mode, out_start, count, skip, count2 = scalars
    v32, v64 = ir.VectorType(I32, LANES), ir.VectorType(I64, LANES)

    def vec(scalar):
        return splat(builder, scalar, v64)

    raw = load(builder, raw_a.at(builder.mul(start, const(4))), v32, 4)
    centred = builder.sub(raw, splat(builder, builder.trunc(correction, I32), v32))  # modulo 2^32
    x = builder.mul(builder.add(builder.sext(centred, v64), vec(bias)), vec(multiplier))
    floor = builder.ashr(x, vec(shift))
    remainder = builder.and_(x, vec(builder.lshr(const(2**63 - 1), builder.sub(const(MAX_SHIFT), shift))))
    below = builder.sub(shift, const(1))
    half = builder.shl(const(1), builder.select(builder.icmp_signed(">", below, const(0)), below, const(0)))

    def mode_is(code):  # 1 when the rounding mode is `code`, as an i64
        return builder.zext(builder.icmp_signed("==", mode, const(code)), I64)

    # the tie's rounding-up bit: 1 (half up), x >= 0 (half away), the floor's low bit (half even)
    away = builder.and_(builder.zext(builder.icmp_signed(">=", x, vec(const(0))), v64), vec(mode_is(HALF_AWAY)))
    even = builder.and_(floor, vec(mode_is(HALF_EVEN)))
    tie = builder.or_(builder.or_(away, even), vec(mode_is(HALF_UP)))
    up = builder.icmp_signed(">", remainder, builder.sub(vec(half), tie))  # remainder + tie may leave int64
    # clamped around the zero point, which is added in the output's width (the sum is inside [lo, hi])
    y = builder.add(floor, builder.zext(up, v64))
    low, high = builder.sub(lo, zero_point), builder.sub(hi, zero_point)
    y = builder.select(builder.icmp_signed("<", y, vec(low)), vec(low), y)
    y = builder.select(builder.icmp_signed(">", y, vec(high)), vec(high), y)

    width = signature.args[10].dtype.bitwidth
    narrow = ir.VectorType(ir.IntType(width), LANES)
    masked_store = declare(builder, f"llvm.masked.store.v{LANES}i{width}.p0", ir.VoidType(),
                           [narrow, narrow.as_pointer(), I32, ir.VectorType(ir.IntType(1), LANES)])
    lanes = ir.Constant(v64, list(range(LANES)))
    stored = builder.add(builder.trunc(y, narrow), splat(builder, builder.trunc(zero_point, narrow.element), narrow))
    second = builder.add(count, skip)  # the second run's first lane, stored `skip` elements back
    for first, lanes_below, back in ((const(0), count, const(0)), (second, builder.add(second, count2), skip)):
        address = out_a.at(builder.mul(builder.sub(out_start, back), const(width // 8)))
        mask = builder.and_(builder.icmp_signed(">=", lanes, vec(first)), builder.icmp_signed("<", lanes,
                                                                                              vec(lanes_below)))
        builder.call(masked_store, [stored, builder.inttoptr(address, narrow.as_pointer()), ir.Constant(I32, 1), mask])
    return context.get_dummy_value()


@intrinsic
def requantize_lanes(typingctx, raw, start, correction, bias, multiplier, shift, zero_point, lo, hi, mode, out,
                     out_start, count, skip, count2):
    """out[out_start + l] = requantize_one(int32(raw[start + l] - correction) + bias, multiplier, shift,
    zero_point, lo, hi, mode) for l < count, and the lanes l in [count + skip, count + skip + count2)
    likewise into out[out_start + l - skip] (two rows of a plane whose row pitch is count + skip, when
    both fit 16 lanes; count2 = 0: none). raw: contiguous 1-D int32 array, all 16 lanes from `start`
    read (the caller keeps them in bounds); out: contiguous 1-D array of 8-, 16- or 32-bit integers
    holding [lo, hi]; shift in [0, 63]."""
    if not (isinstance(out, types.Array) and isinstance(out.dtype, types.Integer) and out.dtype.bitwidth <= 32):
        return None
    return types.void(raw, start, correction, bias, multiplier, shift, zero_point, lo, hi, mode, out, out_start,
                      count, skip, count2), _codegen
