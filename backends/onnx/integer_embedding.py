"""qembedding in the integer and qoperator forms: Gather of the int8 table's rows and of
their scales, then one Mul, so the table stays int8 in the file and in memory and only
the rows read are dequantized (a DequantizeLinear of the whole table would run per call).

A table whose codes all fit in fewer bits (quantize{embedding_sqnr=...} stores 4-7 bit
codes in int8) is written packed: each group of 8 codes, offset to unsigned, fills `bits`
bytes, low bits first. The rows read are unpacked in the graph: each code spans at most
two bytes of its group, so code j is floor((byte[lo_j] + 256·byte[hi_j]) / 2^(shift_j)) mod
2^bits, minus the offset, all in float32 and exact. Exact: the result equals the int8 lookup bit for bit."""
from __future__ import annotations

import numpy as np

from qcompiler.ir.types import numpy_dtype

from .builder import onnx_dtype
from .emitters import INTEGER

GROUP = 8  # codes per packed group: 8 codes of `bits` bits are `bits` whole bytes
PACK_MIN_SAVING = 64 * 1024  # bytes; below this the unpacking nodes cost more per call than the file gains


def code_bits(stored: np.ndarray) -> int:
    """The fewest two's-complement bits holding every stored code (1 for an empty table)."""
    if stored.size == 0:
        return 1
    lo, hi = int(stored.min()), int(stored.max())
    return next(b for b in range(1, 9) if -(2 ** (b - 1)) <= lo and hi <= 2 ** (b - 1) - 1)


def pack_rows(stored: np.ndarray, bits: int) -> np.ndarray:
    """[rows, cols] int8 codes -> [rows, ceil(cols/8)·bits] uint8, each code offset by
    2^(bits-1) and laid out low bits first in its group of 8."""
    rows, cols = stored.shape
    groups = -(-cols // GROUP)
    codes = np.zeros((rows, groups * GROUP), np.uint64)
    codes[:, :cols] = (stored.astype(np.int64) + 2 ** (bits - 1)).astype(np.uint64)
    codes = codes.reshape(rows, groups, GROUP)
    word = np.zeros((rows, groups), np.uint64)
    for j in range(GROUP):
        word |= codes[:, :, j] << np.uint64(j * bits)
    as_bytes = [(word >> np.uint64(8 * k)) & np.uint64(0xFF) for k in range(bits)]
    return np.stack(as_bytes, axis=-1).astype(np.uint8).reshape(rows, groups * bits)


@INTEGER.register("qembedding")
def qembedding(ctx, node):
    indices, table = node.inputs
    dtype = node.output.type.dtype
    stored = ctx.graph.const_value(table)
    bits = code_bits(stored)
    saving = stored.size - (-(-stored.shape[1] // GROUP)) * bits * stored.shape[0]
    if bits < 8 and saving >= PACK_MIN_SAVING:
        rows = _unpacked_rows(ctx, indices, table, stored, bits)
        if dtype != "f32":
            rows = ctx.b.op("Cast", [rows], {"to": onnx_dtype(dtype)})
    else:
        rows = ctx.b.op("Gather", [ctx.storage(table), ctx.real(indices)], {"axis": 0})
        rows = ctx.b.op("Cast", [rows], {"to": onnx_dtype(dtype)})
    scale = table.type.scale.array.reshape(-1, 1).astype(numpy_dtype(dtype))
    scales = ctx.b.initializer(scale, ctx.derived_name(table, "row_scales"))
    return [ctx.b.op("Mul", [rows, ctx.b.op("Gather", [scales, ctx.real(indices)], {"axis": 0})])]


def _unpacked_rows(ctx, indices, table, stored: np.ndarray, bits: int):
    """The codes (as float32, exact: every intermediate is below 2^16 with at most 7 bits
    after the point) of the rows `indices` picks from the packed table, shaped indices.shape + [cols]. The two
    bytes under each code are combined by a MatMul with a matrix of 0, 2^k and 256·2^k
    (an inner-axis Gather of bytes runs element by element in onnxruntime: 3 ms per BERT
    batch, against 0.07 ms)."""
    b, cols = ctx.b, stored.shape[1]
    groups = -(-cols // GROUP)
    packed = b.initializer(pack_rows(stored, bits), ctx.derived_name(table, f"packed{bits}"))
    picked = b.op("Gather", [packed, ctx.real(indices)], {"axis": 0})
    grouped = b.op("Cast", [b.op("Reshape", [picked, b.ints([-1, groups, bits])])], {"to": onnx_dtype("f32")})
    first_bit = np.arange(GROUP) * bits
    low, high = first_bit // 8, (first_bit + bits - 1) // 8
    pairing = np.zeros((bits, GROUP), np.float32)
    pairing[low, np.arange(GROUP)] = 1
    pairing[high[high != low], np.arange(GROUP)[high != low]] = 256
    shift = first_bit % 8

    def scaled_pairs(exponents):  # (byte[lo] + 256·byte[hi]) · 2^exponent, exact in float32
        return b.op("Floor", [b.op("MatMul", [grouped, b.constant((pairing * 2.0 ** exponents).astype(np.float32))])])

    # x mod 2^bits as x - 2^bits·floor(x / 2^bits); the powers of two ride in the MatMul
    # (float Mod, and a Mul by a per-code vector, run 4-10x slower in onnxruntime)
    shifted, above = scaled_pairs(-shift), scaled_pairs(-(shift + bits))
    unsigned = b.op("Sub", [shifted, b.op("Mul", [above, b.constant(np.array(2 ** bits, np.float32))])])
    codes = b.op("Sub", [unsigned, b.constant(np.array(2 ** (bits - 1), np.float32))])
    flat = b.op("Reshape", [codes, b.ints([-1, groups * GROUP])])
    if groups * GROUP != cols:
        flat = b.op("Slice", [flat, b.ints([0]), b.ints([cols]), b.ints([1])])
    shape = b.op("Concat", [b.op("Shape", [ctx.real(indices)]), b.ints([cols])], {"axis": 0})
    return b.op("Reshape", [flat, shape])
