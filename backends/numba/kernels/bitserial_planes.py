"""Bit planes for the bit-serial products: byte rows (unsigned values below 2^A, A = 2, 4
or 8 planes) -> uint64 rows in the lane layout `bitserial_tile` reads.

Element e of a row sits in word q = e // 64 of every plane; plane i of word q is stored
at word q·A + i, so one 512-bit vector (8 words) holds the A planes of 8/A consecutive
words. Inside a word, the element order is the one the 8×8 bit
transposition leaves (element 8t + r at bit 8(t mod 8) + r): activations and weights go
through the same function, so their bits pair up.

Convolutions take the K order (ky, kx, channel) with each tap's channels padded to
`channel_run_bits` elements, so an input position's channel bits are made once per image
(`position_planes`) and an output pixel's row is copied together from its taps' words
(`kernels/bitserial.py`) instead of transposed again for every pixel that reads them.

Weights: storage integers s of b1/i2/u2 are written as Σ_j c_j·b_j + offset over their
bit planes b_j (`WEIGHT_PLANES`), so Σ x·s = Σ_j c_j·popcount-sum(x, b_j) + offset·Σ x.
A weight row of plane j repeats that plane's word in all A lanes of its word.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .bitserial_tile import VECTOR_WORDS

# weight storage -> (plane coefficients c_j, offset): s = Σ_j c_j·bit_j(field) + offset
WEIGHT_PLANES = {
    "i2": ((1, -2), 0),  # two's complement field b0 + 2·b1 is worth b0 - 2·b1
    "u2": ((1, 2), 0),
    "b1": ((2,), -1),    # ±1 stored: bit = (s == +1), s = 2·bit - 1
}
_BYTE = np.uint64(0xFF)


def activation_planes(bits: int) -> int:
    """Planes a storage of `bits` bits takes (the lane layout needs 2, 4 or 8)."""
    return 2 if bits <= 2 else 4 if bits <= 4 else 8


def padded_length(k: int, planes: int) -> int:
    """Row length in bytes rounded up to whole 512-bit vectors of `planes` planes."""
    per_vector = 64 * (VECTOR_WORDS // planes)
    return -(-k // per_vector) * per_vector


@njit(inline="always", cache=True)
def _transpose8(v):
    """8×8 bit matrix transpose (Hacker's Delight 7-3): bit b of byte r -> bit r of byte b."""
    t = (v ^ (v >> np.uint64(7))) & np.uint64(0x00AA00AA00AA00AA)
    v = v ^ t ^ (t << np.uint64(7))
    t = (v ^ (v >> np.uint64(14))) & np.uint64(0x0000CCCC0000CCCC)
    v = v ^ t ^ (t << np.uint64(14))
    t = (v ^ (v >> np.uint64(28))) & np.uint64(0x00000000F0F0F0F0)
    return v ^ t ^ (t << np.uint64(28))


@njit(cache=True)
def to_planes(row, planes, out):
    """row: uint8 [Kp] (Kp = padded_length), values below 2^planes; out: uint64 [Kp·planes/64]
    in the lane layout. Returns Σ row as int64."""
    chunks = row.view(np.uint64)
    out_bytes = out.view(np.uint8)
    for t in range(chunks.size):
        bits = _transpose8(chunks[t])
        lane0 = (t >> 3) * planes
        for i in range(planes):
            out_bytes[(lane0 + i) * 8 + (t & 7)] = np.uint8((bits >> np.uint64(8 * i)) & _BYTE)
    total = np.int64(0)
    for e in range(row.size):
        total += row[e]
    return total


def channel_run_bits(channels: int) -> int:
    """Bits one tap's channels take in a convolution row: a power of two up to 64 (several
    taps share a word), else whole words."""
    return 1 << max(channels - 1, 0).bit_length() if channels <= 64 else -(-channels // 64) * 64


def conv_weight_rows(storage: np.ndarray, run_bits: int) -> np.ndarray:
    """[Cout, Cin/g, kh, kw] storage -> [Cout, kh·kw·run_bits] in the (ky, kx, channel) order,
    zero-padded channels (a zero field: no bit set in any plane)."""
    cout, cin_g = storage.shape[:2]
    taps = np.moveaxis(storage, 1, -1).reshape(cout, -1, cin_g)
    rows = np.zeros((cout, taps.shape[1], run_bits), storage.dtype)
    rows[:, :, :cin_g] = taps
    return rows.reshape(cout, -1)


@njit(cache=True)
def position_planes(image, c0, channels, y, z_u, planes, out, sums):
    """image: centred activations x - zp_x [C, Hp, Wp]; the unsigned x_u = centred + z_u of channels
    c0 .. c0+channels-1 at every position (y, x) of image row y -> bit c of plane i in
    out[x·block + (c // 64)·planes + i] (out zeroed, block = words·planes); sums[x] = Σ x_u.
    Channel rows are read contiguously, eight at a time, into one byte per channel of a
    uint64 per position, which one 8×8 transpose turns into eight plane bytes."""
    wp = image.shape[2]
    block = out.size // wp
    chunk = np.empty(wp, np.uint64)
    sums[:] = 0
    for t in range(-(-channels // 8)):
        chunk[:] = 0
        for r in range(min(8, channels - 8 * t)):
            source = image[c0 + 8 * t + r, y]
            for x in range(wp):
                v = np.int64(source[x]) + z_u
                sums[x] += v
                chunk[x] |= np.uint64(v) << np.uint64(8 * r)
        shift = np.uint64(8 * (t & 7))
        word = (t >> 3) * planes
        for x in range(wp):
            bits = _transpose8(chunk[x])
            for i in range(planes):
                out[x * block + word + i] |= ((bits >> np.uint64(8 * i)) & _BYTE) << shift


def weight_plane_rows(storage: np.ndarray, kind: str, planes: int, groups: int) -> np.ndarray:
    """[Cout, K] storage integers of weight kind `kind` -> uint64 [groups, rows, Kp·planes/64]:
    row (c·W + j) of a group is plane j of its channel c (W planes per weight), rows
    zero-padded to a multiple of 4 for the 4×4 tiles."""
    coefficients, _ = WEIGHT_PLANES[kind]
    n_w = len(coefficients)
    cout, k = storage.shape
    fields = (storage == 1) if kind == "b1" else storage & 3
    kp = padded_length(k, planes)
    row_words = kp * planes // 64
    per_group = cout // groups
    rows = -(-per_group * n_w // 4) * 4
    out = np.zeros((groups, rows, row_words), np.uint64)
    byte_row = np.zeros(kp, np.uint8)
    lanes = np.empty(row_words, np.uint64)
    for c in range(cout):
        byte_row[:k] = fields[c]
        to_planes(byte_row, planes, lanes)
        by_plane = lanes.reshape(-1, planes)  # [words, planes]: the word's planes side by side
        for j in range(n_w):
            out[c // per_group, (c % per_group) * n_w + j] = np.repeat(by_plane[:, j], planes)
    return out
