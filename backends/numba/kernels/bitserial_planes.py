"""Bit planes in the layout `bitserial_tile.popcount_tile` reads: activation phase planes of
channel words, and weight rows of one bit plane each.

Activations: the unsigned bits b = (x - zp_x + z_u) >> a_shift of a padded, centred
input (z_u = zp_x - qmin; a_shift 1 for binary ±1 storage, whose bits are the signs,
else 0), below 2^A. For stride (sh, sw) the padded image splits into sh·sw phase planes
(rows ≡ py mod sh, columns ≡ px mod sw) of row pitch Ws, as in `conv_vnni.py`; in each,
bit i of the 64 channels 64q..64q+63 of a group at position p is one uint64 word,
[N, sh·sw, groups·CW·A, L] with index (g·CW + q)·A + i; channel c sits at bit c mod 64.
Every tap of the kernel is then a constant offset from the output position, and eight
consecutive positions are one 64-byte load.

Weights: a channel's storage is Σ_j c_j·bit_j + offset over its bit planes (`WEIGHT_PLANES`);
row c·W + j holds plane j of channel c as words of the same channels, one per (tap,
channel word) in the order of the tap offsets.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

# weight storage -> (plane coefficients c_j, offset): s = Σ_j c_j·bit_j(field) + offset
WEIGHT_PLANES = {
    "i2": ((1, -2), 0),  # two's complement field b0 + 2·b1 is worth b0 - 2·b1
    "u2": ((1, 2), 0),
    "b1": ((2,), -1),    # ±1 stored: bit = (s == +1), s = 2·bit - 1
}
_ROW_CHUNKS = 8  # parallel tasks per image and group: a task per padded row doubled the time at 1 thread


@njit(parallel=True, cache=True)
def activation_planes(xc, z_u, a_shift, planes, groups, sh, sw, ws, used, words, with_sums, sums, nulls):
    """xc: centred padded input [N, C, Hp, Wp] (int16); words: uint64 [N, sh·sw, groups·CW·A, L]
    (CW = channel words per group); with_sums, sums[n·groups + g, phase, p] = Σ_c b over the
    group's channels; nulls[n·groups + g, phase, p] = 1 where a binary input holds 0 (padding: no
    sign bit; the caller corrects for its taps). Words beyond a phase plane's positions are
    left as they are: only discarded outputs read them. Tasks are runs of padded rows."""
    n_batch, channels, hp, wp = xc.shape
    cin_g = channels // groups
    cw = words.shape[2] // (groups * planes)
    chunks = min(hp, _ROW_CHUNKS)
    for task in prange(n_batch * groups * chunks):
        ng, chunk = task // chunks, task % chunks
        n, g = ng // groups, ng % groups
        for y in range(chunk * hp // chunks, (chunk + 1) * hp // chunks):
            _row_planes(xc, z_u, a_shift, planes, n, g, ng, y, cin_g, cw, sh, sw, ws, used, words, with_sums, sums,
                        nulls)


@njit(cache=True)
def _row_planes(xc, z_u, a_shift, planes, n, g, ng, y, cin_g, cw, sh, sw, ws, used, words, with_sums, sums,
                nulls):
    """`activation_planes` for padded row y of image n, group g."""
    wp = xc.shape[3]
    py, yr = y % sh, y // sh
    for px in range(sw):
        phase = py * sw + px
        if not used[phase]:
            continue
        columns = (wp - px + sw - 1) // sw
        first = yr * ws
        total = np.zeros(columns, np.int64)
        bits = np.zeros((planes, columns), np.uint64)
        for q in range(cw):
            bits[:] = 0
            for c in range(min(64, cin_g - 64 * q)):
                source = xc[n, g * cin_g + 64 * q + c, y]
                if sw == 1:  # plain indexing from 0: LLVM vectorizes the inlined loop
                    _or_channel(bits, with_sums, total, source, z_u, a_shift, np.uint64(c))
                else:
                    _or_channel(bits, with_sums, total, source[px::sw], z_u, a_shift, np.uint64(c))
            for i in range(planes):
                words[n, phase, (g * cw + q) * planes + i, first:first + columns] = bits[i]
        sums[ng, phase, first:first + columns] = total
        if a_shift:
            flags = nulls[ng, phase, first:first + columns]
            source = xc[n, g * cin_g, y]
            for j in range(columns):
                flags[j] = source[px + sw * j] == 0


@njit(inline="always", cache=True)
def _or_channel(bits, with_sums, total, source, z_u, a_shift, c):
    """bits[i, j] |= bit i of b << c (and total[j] += b with_sums), for b the bits of source[j]:
    one plain vector loop per plane, b computed again in each (cheaper than a scratch row)."""
    if with_sums:
        for j in range(total.size):
            total[j] += (np.int64(source[j]) + z_u) >> a_shift
    for i in range(bits.shape[0]):
        row, down = bits[i], np.uint64(i)
        for j in range(row.size):
            b = np.uint64((np.int64(source[j]) + z_u) >> a_shift)
            row[j] |= ((b >> down) & np.uint64(1)) << c


@njit(parallel=True, cache=True)
def row_planes(x2, x_min, a_shift, planes, words, with_sums, sums):
    """The layout of `activation_planes` for a linear's rows as the positions of a 1×M image of K
    channels, read in place: x2 [M, K] storage, b = (x - x_min) >> a_shift; words: uint64
    [CW·A, L], word q·A + i at column m = bit i of row m's channels 64q..; with_sums, sums[m] = Σ b.
    Each word is an OR reduction over 64 contiguous values, which LLVM vectorizes."""
    m, k = x2.shape
    cw = words.shape[0] // planes
    chunks = min(m, _ROW_CHUNKS)
    for chunk in prange(chunks):
        for r in range(chunk * m // chunks, (chunk + 1) * m // chunks):
            row = x2[r]
            if with_sums:
                total = np.int64(0)
                for j in range(k):
                    total += (np.int64(row[j]) - x_min) >> a_shift
                sums[r] = total
            for q in range(cw):
                part = row[64 * q:min(64 * q + 64, k)]
                for i in range(planes):
                    word, down = np.uint64(0), np.uint64(i)
                    for c in range(part.size):
                        b = np.uint64((np.int64(part[c]) - x_min) >> a_shift)
                        word |= ((b >> down) & np.uint64(1)) << np.uint64(c)
                    words[q * planes + i, r] = word


def weight_rows(storage: np.ndarray, kind: str, groups: int, kernel: tuple, rows_multiple: int) -> np.ndarray:
    """[Cout, Cin/g·kh·kw] storage integers of weight kind `kind` -> uint64 [groups, R, kh·kw·CW]:
    row c·W + j of a group is plane j of its channel c, word (ky·kw + kx)·CW + q the bits of
    input channels 64q.. at tap (ky, kx); R = Cout/g·W rounded up to `rows_multiple`, the
    extra rows and channels zero."""
    coefficients, _ = WEIGHT_PLANES[kind]
    n_w = len(coefficients)
    cout = storage.shape[0]
    taps = kernel[0] * kernel[1]
    cin_g = storage.shape[1] // taps
    cw = -(-cin_g // 64)
    fields = ((storage == 1) if kind == "b1" else storage & 3).astype(np.uint8)
    by_tap = np.zeros((cout, taps, cw * 64), np.uint8)  # [c, tap, channel]
    by_tap[:, :, :cin_g] = fields.reshape(cout, cin_g, taps).transpose(0, 2, 1)
    per_group = cout // groups
    rows = -(-per_group * n_w // rows_multiple) * rows_multiple
    out = np.zeros((groups, rows, taps * cw), np.uint64)
    for j in range(n_w):
        bits = np.packbits((by_tap >> j) & 1, axis=-1, bitorder="little").view("<u8").reshape(cout, -1)
        out[:, j:per_group * n_w:n_w] = bits.reshape(groups, per_group, -1)
    return out
