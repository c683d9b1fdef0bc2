"""A 4×4 tile of bit-serial dot products: popcount(x AND w) over 512-bit vectors, in LLVM IR.

Rows hold bit planes in the lane layout of `bitserial_planes`: each <8 x i64> vector of an
activation row carries planes 0..A-1 of 8/A words side by side, the matching weight
vector repeats one weight plane's word in those A lanes. So one AND and one llvm.ctpop
per (activation row, weight row) covers every activation plane at once, sixteen
<8 x i64> accumulators stay in registers over K, and the plane weights 2^i are applied
once at the end (each lane shifted left by its plane, lane mod A, then summed).
llvm.ctpop.v8i64 is one vpopcntq on AVX-512 VPOPCNTDQ hosts; elsewhere LLVM expands it
(pshufb nibble tables), still exact. Numba's own `int.bit_count` goes through a scalar
call per word, which the loop vectorizer cannot widen.
"""
from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

VECTOR_WORDS = 8  # uint64 words per 512-bit vector: rows are multiples of this long


@intrinsic
def popcount_tile_4x4(typingctx, x, w, steps, plane_mask, tile):
    """tile[r, c] = Σ_{s<steps} Σ_{l<8} popcount(x[r, 8s+l] & w[c, 8s+l]) << (l & plane_mask);
    x, w: uint64 arrays of 4 rows with contiguous rows; tile: int64 [4, 4], any strides (a
    transposed view lets the caller keep its sums channel-major)."""
    def codegen(context, builder, signature, args):
        xa = context.make_array(signature.args[0])(context, builder, args[0])
        wa = context.make_array(signature.args[1])(context, builder, args[1])
        ta = context.make_array(signature.args[4])(context, builder, args[4])
        i64 = ir.IntType(64)
        v8 = ir.VectorType(i64, VECTOR_WORDS)
        ctpop = cgutils.get_or_insert_function(builder.module, ir.FunctionType(v8, [v8]), "llvm.ctpop.v8i64")
        reduce_add = cgutils.get_or_insert_function(builder.module, ir.FunctionType(i64, [v8]),
                                                    "llvm.vector.reduce.add.v8i64")
        zero = ir.Constant(v8, [0] * VECTOR_WORDS)
        steps_ = args[2]
        pre = builder.block
        loop, done = builder.append_basic_block("bits.loop"), builder.append_basic_block("bits.done")
        builder.cbranch(builder.icmp_signed(">", steps_, ir.Constant(i64, 0)), loop, done)

        builder.position_at_end(loop)
        step = builder.phi(i64)
        acc = [builder.phi(v8) for _ in range(16)]
        offset = builder.mul(step, ir.Constant(i64, 8 * VECTOR_WORDS))  # bytes

        def row(array, r):
            base = builder.ptrtoint(array.data, i64)
            stride = builder.extract_value(array.strides, 0)
            addr = builder.add(builder.add(base, builder.mul(stride, ir.Constant(i64, r))), offset)
            return builder.load(builder.inttoptr(addr, v8.as_pointer()), align=8)

        xs, ws = [row(xa, r) for r in range(4)], [row(wa, c) for c in range(4)]
        summed = [builder.add(acc[4 * r + c], builder.call(ctpop, [builder.and_(xs[r], ws[c])]))
                  for r in range(4) for c in range(4)]
        following = builder.add(step, ir.Constant(i64, 1))
        body_end = builder.block
        step.add_incoming(ir.Constant(i64, 0), pre)
        step.add_incoming(following, body_end)
        for phi, value in zip(acc, summed):
            phi.add_incoming(zero, pre)
            phi.add_incoming(value, body_end)
        builder.cbranch(builder.icmp_signed("<", following, steps_), loop, done)

        builder.position_at_end(done)
        final = []
        for value in summed:  # phis first: LLVM wants them at the top of the block
            phi = builder.phi(v8)
            phi.add_incoming(zero, pre)
            phi.add_incoming(value, body_end)
            final.append(phi)
        mask = cgutils.get_null_value(v8)
        for lane in range(VECTOR_WORDS):
            mask = builder.insert_element(mask, args[3], ir.Constant(ir.IntType(32), lane))
        plane_of_lane = builder.and_(ir.Constant(v8, list(range(VECTOR_WORDS))), mask)
        tile_base = builder.ptrtoint(ta.data, i64)
        row_stride, col_stride = (builder.extract_value(ta.strides, d) for d in range(2))
        for j, value in enumerate(final):
            r, c = divmod(j, 4)
            addr = builder.add(tile_base, builder.add(builder.mul(row_stride, ir.Constant(i64, r)),
                                                      builder.mul(col_stride, ir.Constant(i64, c))))
            weighted = builder.shl(value, plane_of_lane)
            builder.store(builder.call(reduce_add, [weighted]), builder.inttoptr(addr, i64.as_pointer()))
        return context.get_dummy_value()

    return types.void(x, w, steps, plane_mask, tile), codegen
