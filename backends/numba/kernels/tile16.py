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
from numba.extending import intrinsic

from .llvm_tile import I32, ArrayArg, const, counted_loop, declare, load, store

LANES = 32  # int16 values per 512-bit load: K must be a multiple of this

llvm.initialize_native_target()
HAS_AVX512BW = bool(llvm.get_host_cpu_features().get("avx512bw", False))


@intrinsic
def pmadd_tile_4x4(typingctx, x, w, k, tile):
    """tile[r, c] = Σ_{t<k} x[r, t]·w[c, t]; x, w: int16 arrays of 4 rows with contiguous
    rows, k a multiple of LANES; tile: int32 [4, 4] C-contiguous."""
    def codegen(context, builder, signature, args):
        xa, wa, ta = (ArrayArg(context, builder, signature, args, i) for i in (0, 1, 3))
        v32i16, v16i32 = ir.VectorType(ir.IntType(16), LANES), ir.VectorType(I32, 16)
        pmadd = declare(builder, "llvm.x86.avx512.pmaddw.d.512", v16i32, [v32i16, v32i16])
        reduce_add = declare(builder, "llvm.vector.reduce.add.v16i32", I32, [v16i32])

        def step(index, acc):
            offset = builder.mul(index, const(2 * LANES))  # bytes
            xs = [load(builder, xa.at(builder.mul(xa.stride(0), const(r)), offset), v32i16, 2) for r in range(4)]
            ws = [load(builder, wa.at(builder.mul(wa.stride(0), const(c)), offset), v32i16, 2) for c in range(4)]
            return [builder.add(acc[4 * r + c], builder.call(pmadd, [xs[r], ws[c]])) for r in range(4)
                    for c in range(4)]

        zero = ir.Constant(v16i32, [0] * 16)
        final = counted_loop(builder, builder.udiv(args[2], const(LANES)), [zero] * 16, step, "tile")
        for j, value in enumerate(final):
            store(builder, builder.call(reduce_add, [value]), ta.at(4 * j), 4)
        return context.get_dummy_value()

    return types.void(x, w, k, tile), codegen
