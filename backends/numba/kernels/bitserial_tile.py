"""A register tile of bit-serial dot products, popcount(x AND w) over 512-bit vectors, in
LLVM IR; outputs are lanes, so there are no horizontal sums.

The tile is ROWS weight rows × VECTORS·8 int64 lanes (output positions), kept in sixteen
zmm accumulators over all steps. A step t broadcasts one 64-bit word of every weight
row (64 input channels of one tap, one weight bit plane) and ANDs it with VECTORS
vectors of eight positions' words of the same channels in one activation bit plane,
then llvm.ctpop.v8i64 (one vpopcntq on AVX-512 VPOPCNTDQ hosts; elsewhere LLVM expands
it, still exact) and an add. Activation planes run most significant first, and the
accumulators double before each plane (Horner), so the plane weights 2^i cost one shift
per plane instead of an accumulator per plane: AND + popcount + add per 512 bits of
(weight plane, activation plane) pairs, i.e. 512 / (planes_w · planes_a) products. The
tile stores scale[r]·count + offset[r] as int32 (the caller's per-row affine map: for W1A1
the accumulator itself, so no separate pass over the counts).
"""
from __future__ import annotations

from functools import partial

import llvmlite.binding as llvm
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from .llvm_tile import I64, ArrayArg, const, counted_loop, declare, load, splat, store_rows

ROWS = 4        # weight rows per tile (a 2-bit weight's two planes are adjacent rows)
VECTORS = 4     # 8-lane vectors of positions per row
LANES = 8       # 64-bit words (positions) per vector
WIDTH = VECTORS * LANES

llvm.initialize_native_target()
HAS_AVX512_VPOPCNTDQ = bool(llvm.get_host_cpu_features().get("avx512vpopcntdq", False))


def _codegen(combine, context, builder, signature, args):
    rows_a, vec_a, offs_a, out_a, scale_a, offset_a = (ArrayArg(context, builder, signature, args, i)
                                                       for i in (0, 1, 3, 7, 9, 10))
    start, plane_stride, planes, steps, column = args[2], args[4], args[5], args[6], args[8]
    v8 = ir.VectorType(I64, LANES)
    ctpop = declare(builder, "llvm.ctpop.v8i64", v8, [v8])
    one = ir.Constant(v8, [1] * LANES)
    row_stride = rows_a.stride(0)

    def plane(index, acc):
        significance = builder.sub(builder.sub(planes, const(1)), index)  # most significant plane first
        plane_base = vec_a.at(start, builder.mul(significance, plane_stride))

        def step(t, acc):
            here = builder.add(plane_base, load(builder, offs_a.at(builder.mul(t, const(8))), I64, 8))
            vecs = [load(builder, builder.add(here, const(8 * LANES * j)), v8, 8) for j in range(VECTORS)]
            words = [load(builder, rows_a.at(builder.mul(row_stride, const(r)), builder.mul(t, const(8))), I64, 8)
                     for r in range(ROWS)]
            splats = [splat(builder, word, v8) for word in words]
            return [builder.add(acc[r * VECTORS + j], builder.call(ctpop, [combine(builder, vecs[j], splats[r])]))
                    for r in range(ROWS) for j in range(VECTORS)]

        return counted_loop(builder, steps, [builder.shl(a, one) for a in acc], step, "bits.step")

    final = counted_loop(builder, planes, [ir.Constant(v8, [0] * LANES)] * (ROWS * VECTORS), plane, "bits.plane")
    v8i32 = ir.VectorType(ir.IntType(32), LANES)
    mapped = []
    for r in range(ROWS):
        scale = splat(builder, load(builder, scale_a.at(8 * r), I64, 8), v8)
        offset = splat(builder, load(builder, offset_a.at(8 * r), I64, 8), v8)
        mapped += [builder.trunc(builder.add(builder.mul(final[r * VECTORS + j], scale), offset), v8i32)
                   for j in range(VECTORS)]
    store_rows(builder, out_a, mapped, ROWS, column)
    return context.get_dummy_value()


@intrinsic
def popcount_tile(typingctx, rows, vectors, start, offsets, plane_stride, planes, steps, out, column, scale, offset):
    """out[r, column + 8j + l] = int32(scale[r]·C + offset[r]), C = Σ_{i<planes} 2^i Σ_{t<steps}
    popcount(rows[r, t] AND the word at byte start + i·plane_stride + offsets[t] + 64j + 8l of
    `vectors`) for r < ROWS, j < VECTORS, l < 8. rows: 2-D uint64 with contiguous rows; vectors:
    1-D uint64, 8-byte aligned offsets; start, plane_stride, offsets (int64): bytes; out: 2-D
    int32 with contiguous rows; scale, offset: int64 [ROWS]. The caller keeps every read in bounds."""
    return (types.void(rows, vectors, start, offsets, plane_stride, planes, steps, out, column, scale, offset),
            partial(_codegen, ir.IRBuilder.and_))


@intrinsic
def xor_popcount_tile(typingctx, rows, vectors, start, offsets, plane_stride, planes, steps, out, column, scale,
                      offset):
    """`popcount_tile` with XOR in place of AND: for ±1 values as sign bits, the disagreeing
    pairs (XNOR-popcount's complement), one instruction per 512 bits like the AND."""
    return (types.void(rows, vectors, start, offsets, plane_stride, planes, steps, out, column, scale, offset),
            partial(_codegen, ir.IRBuilder.xor))
