"""Sixteen phase-quad words of the VNNI layout (`conv_vnni.phase_quads`) at once, in LLVM
IR: one masked load per channel (every `step`-th element of a row, step 1 or 2), the
offset added in bytes, the four channels' bytes interleaved into words by one shuffle,
one masked store. Rows of 7-28 outputs are too short for LLVM's loop vectorizer, which
left the layout's loops scalar.
"""
from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from .llvm_tile import I32, I64, ArrayArg, const, declare, splat

LANES = 16
_BOOL = ir.IntType(1)


def _masked_load(builder, address, vector, mask):
    load = declare(builder, f"llvm.masked.load.v{vector.count}i{vector.element.width}.p0", vector,
                   [vector.as_pointer(), I32, ir.VectorType(_BOOL, vector.count), vector])
    return builder.call(load, [builder.inttoptr(address, vector.as_pointer()), ir.Constant(I32, 1), mask,
                               ir.Constant(vector, [0] * vector.count)])


def _lanes_below(builder, count, lanes: int, every: int = 1):
    """The mask of lanes i with i // every < count."""
    index = ir.Constant(ir.VectorType(I64, lanes), [i // every for i in range(lanes)])
    return builder.icmp_signed("<", index, splat(builder, count, ir.VectorType(I64, lanes)))


def _codegen_for(step: int):
    def codegen(context, builder, signature, args):
        x_a, out_a = ArrayArg(context, builder, signature, args, 0), ArrayArg(context, builder, signature, args, 8)
        n, c0, channels, sy, column, _, offset, _, phase, quad, position, count = [
            context.cast(builder, value, type_, types.int64) if isinstance(type_, types.Integer) else value
            for value, type_ in zip(args[1:], signature.args[1:])]
        width = signature.args[0].dtype.bitwidth
        wide = ir.VectorType(ir.IntType(width), LANES * step)
        bytes16 = ir.VectorType(ir.IntType(8), LANES)
        row = x_a.at(builder.mul(n, x_a.stride(0)), builder.mul(sy, x_a.stride(2)),
                     builder.mul(column, x_a.stride(3)))
        # lanes past the last source element are masked off: nothing outside the row is read
        mask = _lanes_below(builder, builder.sub(builder.mul(count, const(step)), const(step - 1)), LANES * step)
        every = ir.Constant(ir.VectorType(I32, LANES), [step * i for i in range(LANES)])
        channel_bytes = []
        for lane in range(4):
            present = builder.icmp_signed("<", const(lane), channels)
            address = builder.add(row, builder.mul(builder.add(c0, const(lane)), x_a.stride(1)))
            values = _masked_load(builder, address, wide, builder.and_(mask, splat(builder, present, mask.type)))
            picked = builder.shuffle_vector(values, ir.Constant(wide, ir.Undefined), every)
            shifted = builder.add(builder.trunc(picked, bytes16), splat(builder, builder.trunc(offset, ir.IntType(8)),
                                                                        bytes16))
            # an absent channel is the zero byte of the channel padding, not offset
            channel_bytes.append(builder.select(present, shifted, ir.Constant(bytes16, [0] * LANES)))
        halves = [builder.shuffle_vector(channel_bytes[i], channel_bytes[i + 1],
                                         ir.Constant(ir.VectorType(I32, 2 * LANES), list(range(2 * LANES))))
                  for i in (0, 2)]
        interleave = [lane + LANES * channel for lane in range(LANES) for channel in range(4)]
        words = builder.shuffle_vector(halves[0], halves[1], ir.Constant(ir.VectorType(I32, 4 * LANES), interleave))
        words = builder.bitcast(words, ir.VectorType(I32, LANES))
        vector = words.type
        store = declare(builder, f"llvm.masked.store.v{LANES}i32.p0", ir.VoidType(),
                        [vector, vector.as_pointer(), I32, ir.VectorType(_BOOL, LANES)])
        address = out_a.at(builder.mul(n, out_a.stride(0)), builder.mul(phase, out_a.stride(1)),
                           builder.mul(quad, out_a.stride(2)), builder.mul(position, const(4)))
        builder.call(store, [words, builder.inttoptr(address, vector.as_pointer()), ir.Constant(I32, 4),
                             _lanes_below(builder, count, LANES)])
        return context.get_dummy_value()
    return codegen


@intrinsic
def quad_words(typingctx, x, n, c0, channels, sy, column, step, offset, out, phase, quad, position, count):
    """out[n, phase, quad, position + j] byte i = x[n, c0 + i, sy, column + step·j] + offset (mod 256)
    for i < channels (0 for the others, up to 4) and j < count (count <= 16); x: [N, C, H, W]
    integers whose values + offset lie in [0, 255], rows contiguous; out: uint32 [N, P, Q, L];
    step: the literal 1 or 2. Only the read elements and the written words are touched."""
    if not isinstance(step, types.IntegerLiteral) or step.literal_value not in (1, 2):
        return None
    return (types.void(x, n, c0, channels, sy, column, step, offset, out, phase, quad, position, count),
            _codegen_for(step.literal_value))
