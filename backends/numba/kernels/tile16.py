"""A 4×4 tile of exact int16 dot products in AVX-512 BW pair multiply-adds, written in
LLVM IR because the loop vectorizer keeps several int16 reductions in one loop on
vpmulld (one product per lane): here sixteen <16 x i32> accumulators stay in registers
over K and each step is one llvm.x86.avx512.pmaddw.d.512 per (row, column), which LLVM
fuses with the add into vpdpwssd on VNNI CPUs. Sums wrap modulo 2^32: exact whenever
the caller proved the true sums fit int32. Only for hosts with avx512bw (HAS_AVX512BW).
"""
from __future__ import annotations

import llvmlite.binding as llvm
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

LANES = 32  # int16 values per 512-bit load: K must be a multiple of this

llvm.initialize_native_target()
HAS_AVX512BW = bool(llvm.get_host_cpu_features().get("avx512bw", False))


@intrinsic
def pmadd_tile_4x4(typingctx, x, w, k, tile):
    """tile[r, c] = Σ_{t<k} x[r, t]·w[c, t]; x, w: int16 arrays of 4 rows with contiguous
    rows, k a multiple of LANES; tile: int32 [4, 4] C-contiguous."""
    def codegen(context, builder, signature, args):
        xa = context.make_array(signature.args[0])(context, builder, args[0])
        wa = context.make_array(signature.args[1])(context, builder, args[1])
        ta = context.make_array(signature.args[3])(context, builder, args[3])
        i16, i32, i64 = ir.IntType(16), ir.IntType(32), ir.IntType(64)
        v32i16, v16i32 = ir.VectorType(i16, LANES), ir.VectorType(i32, 16)
        pmadd = cgutils.get_or_insert_function(builder.module, ir.FunctionType(v16i32, [v32i16, v32i16]),
                                               "llvm.x86.avx512.pmaddw.d.512")
        reduce_add = cgutils.get_or_insert_function(builder.module, ir.FunctionType(i32, [v16i32]),
                                                    "llvm.vector.reduce.add.v16i32")
        zero = ir.Constant(v16i32, [0] * 16)
        steps = builder.udiv(args[2], ir.Constant(i64, LANES))
        pre = builder.block
        loop, done = builder.append_basic_block("tile.loop"), builder.append_basic_block("tile.done")
        builder.cbranch(builder.icmp_signed(">", steps, ir.Constant(i64, 0)), loop, done)

        builder.position_at_end(loop)
        step = builder.phi(i64)
        acc = [builder.phi(v16i32) for _ in range(16)]
        offset = builder.mul(step, ir.Constant(i64, 2 * LANES))  # bytes

        def row(array, r):
            base = builder.ptrtoint(array.data, i64)
            stride = builder.extract_value(array.strides, 0)
            addr = builder.add(builder.add(base, builder.mul(stride, ir.Constant(i64, r))), offset)
            return builder.load(builder.inttoptr(addr, v32i16.as_pointer()), align=2)

        xs, ws = [row(xa, r) for r in range(4)], [row(wa, c) for c in range(4)]
        summed = [builder.add(acc[4 * r + c], builder.call(pmadd, [xs[r], ws[c]])) for r in range(4) for c in range(4)]
        following = builder.add(step, ir.Constant(i64, 1))
        body_end = builder.block
        step.add_incoming(ir.Constant(i64, 0), pre)
        step.add_incoming(following, body_end)
        for phi, value in zip(acc, summed):
            phi.add_incoming(zero, pre)
            phi.add_incoming(value, body_end)
        builder.cbranch(builder.icmp_signed("<", following, steps), loop, done)

        builder.position_at_end(done)
        final = []
        for value in summed:
            phi = builder.phi(v16i32)
            phi.add_incoming(zero, pre)
            phi.add_incoming(value, body_end)
            final.append(phi)
        tile_base = builder.ptrtoint(ta.data, i64)
        for j, value in enumerate(final):
            addr = builder.add(tile_base, ir.Constant(i64, 4 * j))
            builder.store(builder.call(reduce_add, [value]), builder.inttoptr(addr, i32.as_pointer()))
        return context.get_dummy_value()

    return types.void(x, w, k, tile), codegen
