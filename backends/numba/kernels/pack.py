"""Sub-byte weight packing: rows of storage integers packed 8/bits to a byte.

Element j of a row sits in byte j // (8/bits), bits (j % (8/bits))·bits upward (low
nibble first, as ONNX packs int4); 16-bit storage takes two bytes, low byte first. Each
row starts on a byte boundary so a kernel can unpack one output channel's weights
without touching its neighbours. Signed storage is two's complement inside its field
and sign-extended on unpacking. Binary weights (b1, values ±1) travel as 2-bit signed
fields, which hold both.
"""
from __future__ import annotations

import numpy as np
from numba import njit

# storage type -> (bits per packed field, signed)
PACKED_FIELDS = {"i16": (16, True), "i8": (8, True), "u8": (8, False), "i4": (4, True), "u4": (4, False),
                 "i2": (2, True), "u2": (2, False), "b1": (2, True)}


def packed_row_bytes(k: int, bits: int) -> int:
    return -(-k * bits // 8)


def pack_rows(storage: np.ndarray, bits: int) -> np.ndarray:
    """[rows, k] storage integers -> [rows, ceil(k·bits/8)] uint8."""
    if bits not in (2, 4, 8, 16):
        raise ValueError(f"can only pack 2, 4, 8 or 16-bit fields, got {bits}")
    storage = np.asarray(storage)
    if storage.ndim != 2:
        raise ValueError(f"pack_rows takes a 2-D [rows, k] array, got shape {list(storage.shape)}")
    rows, k = storage.shape
    if bits == 16:
        return (storage.astype(np.int64) & 0xFFFF).astype("<u2").view(np.uint8).reshape(rows, 2 * k)
    per_byte = 8 // bits
    nbytes = packed_row_bytes(k, bits)
    fields = np.zeros((rows, nbytes * per_byte), np.uint8)
    fields[:, :k] = storage.astype(np.int64) & ((1 << bits) - 1)
    fields = fields.reshape(rows, nbytes, per_byte)
    packed = np.zeros((rows, nbytes), np.uint8)
    for j in range(per_byte):
        packed |= fields[:, :, j] << np.uint8(j * bits)
    return packed


@njit(cache=True)
def unpack_row(packed_row, k, bits, signed, out):
    """Fill out[:k] (int32) with the storage integers of one packed row.

    Shifts and masks only (no division by the fields per byte): this runs once per
    weight row per call, which for a wide linear layer is a million weights."""
    if bits == 16:
        for j in range(k):
            v = np.int32(packed_row[2 * j]) | (np.int32(packed_row[2 * j + 1]) << 8)
            out[j] = v - ((v & 0x8000) << 1) if signed else v
        return
    log_per_byte = 0 if bits == 8 else (1 if bits == 4 else 2)
    lane = (1 << log_per_byte) - 1
    mask = (1 << bits) - 1
    sign = 1 << (bits - 1)
    for j in range(k):
        v = (np.int32(packed_row[j >> log_per_byte]) >> ((j & lane) * bits)) & mask
        if signed:
            v -= (v & sign) << 1  # two's complement: a set sign bit is worth -2^(bits-1)
        out[j] = v


@njit(cache=True)
def unpack_rows(packed, k, bits, signed):
    """[rows, nbytes] uint8 -> [rows, k] int32 storage integers (the inverse of pack_rows)."""
    out = np.empty((packed.shape[0], k), np.int32)
    for r in range(packed.shape[0]):
        unpack_row(packed[r], k, bits, signed, out[r])
    return out
