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
from numba.core import cgutils
from numba.extending import intrinsic

ROWS = 4        # row operands per tile (output channels of a conv, input rows of a product)
VECTORS = 4     # 16-lane vectors per row
LANES = 16      # int32 accumulators per vector
WIDTH = VECTORS * LANES

llvm.initialize_native_target()
_FEATURES = llvm.get_host_cpu_features()
HAS_AVX512_VNNI = bool(_FEATURES.get("avx512vnni", False) and _FEATURES.get("avx512bw", False))


def _codegen(context, builder, signature, args):
    rows_a = context.make_array(signature.args[0])(context, builder, args[0])
    vec_a = context.make_array(signature.args[1])(context, builder, args[1])
    offs_a = context.make_array(signature.args[3])(context, builder, args[3])
    out_a = context.make_array(signature.args[6])(context, builder, args[6])
    start, vector_stride, steps, column = args[2], args[4], args[5], args[7]
    i32, i64 = ir.IntType(32), ir.IntType(64)
    v16 = ir.VectorType(i32, LANES)
    dpbusd = cgutils.get_or_insert_function(builder.module, ir.FunctionType(v16, [v16, v16, v16]),
                                            "llvm.x86.avx512.vpdpbusd.512")
    zero = ir.Constant(v16, [0] * LANES)
    splat_mask = ir.Constant(v16, [0] * LANES)
    rows_base = builder.ptrtoint(rows_a.data, i64)
    row_stride = builder.extract_value(rows_a.strides, 0)
    vec_base = builder.add(builder.ptrtoint(vec_a.data, i64), start)
    offs_base = builder.ptrtoint(offs_a.data, i64)
    pre = builder.block
    loop, done = builder.append_basic_block("vnni.loop"), builder.append_basic_block("vnni.done")
    builder.cbranch(builder.icmp_signed(">", steps, ir.Constant(i64, 0)), loop, done)

    builder.position_at_end(loop)
    step = builder.phi(i64)
    acc = [builder.phi(v16) for _ in range(ROWS * VECTORS)]
    offset = builder.load(builder.inttoptr(builder.add(offs_base, builder.mul(step, ir.Constant(i64, 8))),
                                           i64.as_pointer()))
    here = builder.add(vec_base, offset)
    vecs = [builder.load(builder.inttoptr(builder.add(here, builder.mul(vector_stride, ir.Constant(i64, j))),
                                          v16.as_pointer()), align=1) for j in range(VECTORS)]
    splats = []
    for r in range(ROWS):
        addr = builder.add(builder.add(rows_base, builder.mul(row_stride, ir.Constant(i64, r))),
                           builder.mul(step, ir.Constant(i64, 4)))
        word = builder.load(builder.inttoptr(addr, i32.as_pointer()), align=1)
        lane0 = builder.insert_element(ir.Constant(v16, ir.Undefined), word, ir.Constant(i32, 0))
        splats.append(builder.shuffle_vector(lane0, ir.Constant(v16, ir.Undefined), splat_mask))
    summed = []
    for r in range(ROWS):
        for j in range(VECTORS):
            summed.append(builder.call(dpbusd, [acc[r * VECTORS + j], vecs[j], splats[r]]))
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
    for value in summed:  # phi nodes first: LLVM wants them at the top of the block
        phi = builder.phi(v16)
        phi.add_incoming(zero, pre)
        phi.add_incoming(value, body_end)
        final.append(phi)
    out_base = builder.ptrtoint(out_a.data, i64)
    out_stride = builder.extract_value(out_a.strides, 0)
    first = builder.mul(column, ir.Constant(i64, 4))
    for r in range(ROWS):
        row_start = builder.add(builder.add(out_base, builder.mul(out_stride, ir.Constant(i64, r))), first)
        for j in range(VECTORS):
            addr = builder.add(row_start, ir.Constant(i64, 4 * LANES * j))
            builder.store(final[r * VECTORS + j], builder.inttoptr(addr, v16.as_pointer()), align=4)
    return context.get_dummy_value()


@intrinsic
def tile_u8_vectors(typingctx, rows, vectors, start, offsets, vector_stride, steps, out, column):
    """out[r, column + 16j + l] = Σ_{t<steps} Σ_{i<4} vectors_u8[start + offsets[t] + j·vector_stride
    + 4l + i] · rows_s8[r, 4t + i] for r < ROWS, j < VECTORS, l < 16. rows: 2-D int8 array with
    contiguous rows; vectors: 1-D uint8 array; start, vector_stride: bytes; offsets: int64
    bytes; out: 2-D int32 array with contiguous rows. The caller keeps every read in bounds."""
    return types.void(rows, vectors, start, offsets, vector_stride, steps, out, column), _codegen
