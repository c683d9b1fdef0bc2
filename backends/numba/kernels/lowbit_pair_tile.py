"""A register tile of 2-bit-range dot products, two output positions per 16-bit lane, in
AVX-512 VNNI's int16 form (vpdpwssd), outputs as lanes.

A word of the activation layout (`lowbit_pairs.py`) holds two input channels as int16
halves, each half v(p) + 2^k·v(p + 16): the centred activations of two positions 16
apart, packed as in ULPPACK (Won et al., MLSys 2022). vpdpwssd multiplies both halves
by the two channels' centred weights (one broadcast int32 of two int16) and adds them
to an int32 lane, so the lane gathers S(p) + 2^k·S(p + 16), two outputs' sums: 64 useful
products per instruction, as many as vpdpbusd's u8×s8 ones, at the same issue rate (both
6.7 G/s on an Intel Xeon, `bench/lowbit_instruction_rates.py`): this tile matches the int8
one, where the popcount tile's four plane pairs of a W2A2 product run at 0.73x. The sums are
exact while every partial S lies in [-2^(k-1), 2^(k-1)): the caller splits the steps into
chunks whose bound proves it (`lowbit_pairs.chunk_bounds`); at the end of a chunk the
low field is S(p) sign-extended from k bits and (lane - S(p)) >> k is S(p + 16).

The tile is ROWS weight rows × VECTORS·32 positions in sixteen zmm accumulators kept
over a chunk's steps; step t loads VECTORS vectors at `start + offsets[t] + 128j`
(words of positions 32j..32j + 15) and broadcasts rows[r, t]. It stores (or adds, after the
first chunk) the int32 sums at out[r, column + 32j + l], l < 32.
"""
from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from .llvm_tile import I32, I64, ArrayArg, const, counted_loop, declare, load, splat, store, store_rows

ROWS = 8        # weight rows (output channels) per tile
VECTORS = 2     # 16-lane vectors per row, each two output positions per lane
LANES = 16      # int32 lanes per vector
WIDTH = VECTORS * 2 * LANES  # output positions per tile


def _codegen(context, builder, signature, args):
    rows_a, vec_a, offs_a, out_a = (ArrayArg(context, builder, signature, args, i) for i in (0, 1, 3, 7))
    start, first, steps, k, column, accumulate = args[2], args[4], args[5], args[6], args[8], args[9]
    v16 = ir.VectorType(I32, LANES)
    dpwssd = declare(builder, "llvm.x86.avx512.vpdpwssd.512", v16, [v16, v16, v16])
    row_stride = rows_a.stride(0)
    vec_base = vec_a.at(start)

    def step(index, acc):
        t = builder.add(first, index)
        here = builder.add(vec_base, load(builder, offs_a.at(builder.mul(t, const(8))), I64, 8))
        vecs = [load(builder, builder.add(here, const(4 * 2 * LANES * j)), v16, 4) for j in range(VECTORS)]
        words = [splat(builder, load(builder, rows_a.at(builder.mul(row_stride, const(r)), builder.mul(t, const(4))),
                                     I32, 4), v16) for r in range(ROWS)]
        return [builder.call(dpwssd, [acc[r * VECTORS + j], vecs[j], words[r]]) for r in range(ROWS)
                for j in range(VECTORS)]

    final = counted_loop(builder, steps, [ir.Constant(v16, [0] * LANES)] * (ROWS * VECTORS), step, "pairs")
    k32 = splat(builder, builder.trunc(k, I32), v16)
    up = splat(builder, builder.trunc(builder.sub(const(32), k), I32), v16)
    fields = []  # per row: low positions of vector 0, high of vector 0, low of vector 1, ...
    for lane_sums in final:
        low = builder.ashr(builder.shl(lane_sums, up), up)  # S(p), sign-extended from k bits
        fields += [low, builder.ashr(builder.sub(lane_sums, low), k32)]
    per_row = len(fields) // ROWS
    with builder.if_else(builder.icmp_signed("!=", accumulate, const(0))) as (adding, storing):
        with adding:  # a later chunk: onto what the earlier ones stored
            for i, value in enumerate(fields):
                address = out_a.at(builder.mul(out_a.stride(0), const(i // per_row)), builder.mul(column, const(4)),
                                   4 * LANES * (i % per_row))
                store(builder, builder.add(load(builder, address, v16, 4), value), address, 4)
        with storing:
            store_rows(builder, out_a, fields, ROWS, column)
    return context.get_dummy_value()


@intrinsic
def pair_tile(typingctx, rows, vectors, start, offsets, first, steps, k, out, column, accumulate):
    """For r < ROWS, j < VECTORS, l < 32: with s = the lane sum of steps [first, first + steps) of
    vpdpwssd(vectors int16 pairs at byte start + offsets[t] + 128j + 4·(l mod 16), rows[r, t] as two
    int16), out[r, column + 32j + l] = (the low k-bit field of s for l < 16, the rest shifted down
    by k for l >= 16), stored, or added when accumulate != 0. rows: 2-D int32 with contiguous rows;
    vectors: 1-D int32; start (bytes), offsets (int64 [T], bytes), first, steps, k (in [2, 16]);
    out: 2-D int32 with contiguous rows. The caller keeps every read in bounds and every field
    inside [-2^(k-1), 2^(k-1))."""
    return types.void(rows, vectors, start, offsets, first, steps, k, out, column, accumulate), _codegen
