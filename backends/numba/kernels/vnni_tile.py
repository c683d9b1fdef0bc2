"""A register tile of u8 × s8 dot products in AVX-512 VNNI (vpdpbusd), written in LLVM IR
because Numba's loop vectorizer never forms vpdpbusd from a reduction loop.

The tile is ROWS rows × VECTORS·16 lanes of int32 accumulators (sixteen zmm registers)
that stay in registers over all T steps; each step broadcasts four bytes of every row
operand (`rows[r, 4t:4t+4]`, one vpbroadcastd feeding VECTORS vpdpbusd) and loads
VECTORS 64-byte vectors of four bytes per lane from `vectors` at
`start + offsets[t] + j·vector_stride`. Outputs are lanes, so no horizontal sums.
The vectors are the u8 operand (activations), the rows the s8 one (weights).
vpdpbusd adds four exact products and wraps modulo
2^32, so sums are exact whenever the caller proved the true result fits int32 (a
zero-point correction applied afterwards in int32 is exact in the same way).
Only for hosts with avx512_vnni (HAS_AVX512_VNNI); elsewhere LLVM cannot select it.
"""
from __future__ import annotations

import llvmlite.binding as llvm
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from .llvm_tile import I32, I64, ArrayArg, const, counted_loop, declare, load, splat, store_rows

ROWS = 4        # row operands per tile (output channels of a conv, input rows of a product)
VECTORS = 4     # 16-lane vectors per row
LANES = 16      # int32 accumulators per vector
WIDTH = VECTORS * LANES

llvm.initialize_native_target()
_FEATURES = llvm.get_host_cpu_features()
HAS_AVX512_VNNI = bool(_FEATURES.get("avx512vnni", False) and _FEATURES.get("avx512bw", False))


def _codegen(context, builder, signature, args):
    rows_a, vec_a, offs_a, out_a = (ArrayArg(context, builder, signature, args, i) for i in (0, 1, 3, 6))
    start, vector_stride, steps, column = args[2], args[4], args[5], args[7]
    v16 = ir.VectorType(I32, LANES)
    dpbusd = declare(builder, "llvm.x86.avx512.vpdpbusd.512", v16, [v16, v16, v16])
    row_stride = rows_a.stride(0)
    vec_base = vec_a.at(start)

    def step(index, acc):
        here = builder.add(vec_base, load(builder, offs_a.at(builder.mul(index, const(8))), I64, 8))
        vecs = [load(builder, builder.add(here, builder.mul(vector_stride, const(j))), v16, 1) for j in range(VECTORS)]
        words = [load(builder, rows_a.at(builder.mul(row_stride, const(r)), builder.mul(index, const(4))), I32, 1)
                 for r in range(ROWS)]
        splats = [splat(builder, word, v16) for word in words]
        return [builder.call(dpbusd, [acc[r * VECTORS + j], vecs[j], splats[r]]) for r in range(ROWS)
                for j in range(VECTORS)]

    final = counted_loop(builder, steps, [ir.Constant(v16, [0] * LANES)] * (ROWS * VECTORS), step, "vnni")
    store_rows(builder, out_a, final, ROWS, column)
    return context.get_dummy_value()


@intrinsic
def tile_u8_vectors(typingctx, rows, vectors, start, offsets, vector_stride, steps, out, column):
    """out[r, column + 16j + l] = Σ_{t<steps} Σ_{i<4} vectors_u8[start + offsets[t] + j·vector_stride
    + 4l + i] · rows_s8[r, 4t + i] for r < ROWS, j < VECTORS, l < 16. rows: 2-D int8 array with
    contiguous rows; vectors: 1-D uint8 array; start, vector_stride: bytes; offsets: int64
    bytes; out: 2-D int32 array with contiguous rows. The caller keeps every read in bounds."""
    return types.void(rows, vectors, start, offsets, vector_stride, steps, out, column), _codegen
