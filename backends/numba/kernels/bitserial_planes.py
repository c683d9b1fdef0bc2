"""Bit planes in the layout `bitserial_tile.popcount_tile` reads: activation phase planes of
channel words, and weight rows of one bit plane each.

Activations: the unsigned bits b = (x - qmin) >> a_shift of the storage (a_shift 1 for
binary ±1 storage, whose bits are the signs, else 0), below 2^A; zero padding is made
here. For stride (sh, sw) the padded image splits into sh·sw phase planes (rows ≡ py mod
sh, columns ≡ px mod sw) of row pitch Ws, as in `conv_vnni.py`; in each, bit i of the 64
channels 64q..64q+63 of a group at position p is one uint64 word, [N, sh·sw, groups·CW·A,
L] with index (g·CW + q)·A + i; channel c sits at bit c mod 64. Every tap of the kernel
is then a constant offset from the output position, and eight consecutive positions are
one 64-byte load. The words of the real positions are made first, a channel at a time over
the whole image in byte lanes (eight channels' bits per byte, 64 positions per vector
operation: the storage is channel-major, so a channel's positions are contiguous), then
copied row by row into the padded phase planes.

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


@njit(parallel=True, cache=True)
def activation_planes_parallel(chunks, x, x_min, a_shift, pad_bits, pad_top, pad_left, hp, wp, groups, planes, sh, sw,
                               ws, used, words, with_sums, sums, nulls):
    """`activation_planes` over all its tasks in `chunks` parallel chunks."""
    tasks = x.shape[0] * groups
    for c in prange(chunks):
        activation_planes(c * tasks // chunks, (c + 1) * tasks // chunks, x, x_min, a_shift, pad_bits, pad_top,
                          pad_left, hp, wp, groups, planes, sh, sw, ws, used, words, with_sums, sums, nulls)


@njit(cache=True)
def activation_planes(first, last, x, x_min, a_shift, pad_bits, pad_top, pad_left, hp, wp, groups, planes, sh, sw, ws,
                      used, words, with_sums, sums, nulls):
    """x: activation storage [N, C, H, W], zero-padded to [hp, wp] by (pad_top, pad_left) here, a
    padded input's bits being pad_bits (the zero point's; 0 for binary inputs, which have no
    sign bit for zero and are flagged in nulls[n·groups + g, phase, p] for the caller to
    correct); b = (x - x_min) >> a_shift. words: uint64 [N, sh·sw, groups·CW·A, L] (CW =
    channel words per group); with_sums, sums[n·groups + g, phase, p] = Σ_c b over the group's
    channels. Words beyond a phase plane's positions are left as they are: only discarded
    outputs read them. Tasks [first, last) of the N·groups (image, group) ones."""
    n_batch, channels, h, w = x.shape
    cin_g = channels // groups
    cw = words.shape[2] // (groups * planes)
    flat = x.reshape(n_batch, channels, h * w)
    real = np.empty((cw * planes, h * w), np.uint64)
    real_sums = np.empty(h * w if with_sums else 0, np.int32)
    for ng in range(first, last):
        image, g = flat[ng // groups], ng % groups
        for q in range(cw):
            for i in range(planes):
                _channel_word(image, g * cin_g + 64 * q, min(64, cin_g - 64 * q), x_min, a_shift + i,
                              real[q * planes + i])
        real_sums[:] = 0
        for c in range(g * cin_g, (g + 1) * cin_g if with_sums else 0):
            source = image[c]
            for p in range(h * w):
                real_sums[p] += np.int32((np.int64(source[p]) - x_min) >> a_shift)
        for y in range(hp):
            _row_planes(real, real_sums, a_shift, pad_bits, pad_top, pad_left, h, w, wp, ng // groups, g, ng, y,
                        cin_g, cw, planes, sh, sw, ws, used, words, with_sums, sums, nulls)


@njit(cache=True)
def _channel_word(image, first, channels, x_min, down, out):
    """out[p] = Σ_c ((b_c(p) >> down) & 1) << c over channels first..first+channels-1 (<= 64) of image
    [C, P], b = storage - x_min as a byte (0..255 for activations of up to 8 bits): eight channels
    in the bits of a byte, one byte lane per position, then the eight bytes into the word."""
    low, shift, one = np.uint8(x_min & 0xFF), np.uint8(down), np.uint8(1)
    byte = np.empty(out.size, np.uint8)
    out[:] = 0
    for s in range(0, channels, 8):
        byte[:] = 0
        for c in range(s, min(s + 8, channels)):
            source, up = image[first + c], np.uint8(c - s)
            for p in range(byte.size):
                byte[p] |= np.uint8(np.uint8(np.uint8(source[p]) - low) >> shift & one) << up
        up64 = np.uint64(s)
        for p in range(out.size):
            out[p] |= np.uint64(byte[p]) << up64


@njit(cache=True)
def _row_planes(real, real_sums, a_shift, pad_bits, pad_top, pad_left, h, w, wp, n, g, ng, y, cin_g, cw, planes, sh,
                sw, ws, used, words, with_sums, sums, nulls):
    """`activation_planes` for padded row y of image n, group g: the words of every padded column
    (padding: the zero point's bits for every channel at once, real columns from `real`), then
    each column phase's."""
    sy = y - pad_top
    inside = 0 <= sy < h
    py, yr = y % sh, y // sh
    first = yr * ws
    bits = np.empty((planes, wp), np.uint64)
    total = np.empty(wp, np.int64)
    for q in range(cw):
        channels = min(64, cin_g - 64 * q)
        every = np.uint64(0xFFFFFFFFFFFFFFFF) >> np.uint64(64 - channels)
        for i in range(planes):
            bits[i] = every if (pad_bits >> i) & 1 else np.uint64(0)
            if inside:
                bits[i, pad_left:pad_left + w] = real[q * planes + i, sy * w:(sy + 1) * w]
        if q == 0 and with_sums:
            total[:] = pad_bits * cin_g
            if inside:
                total[pad_left:pad_left + w] = real_sums[sy * w:(sy + 1) * w]
        for px in range(sw):
            phase = py * sw + px
            if used[phase]:
                span = (wp - px + sw - 1) // sw
                for i in range(planes):
                    words[n, phase, (g * cw + q) * planes + i, first:first + span] = bits[i, px::sw]
    for px in range(sw):
        phase = py * sw + px
        if used[phase]:
            span = (wp - px + sw - 1) // sw
            if with_sums:
                sums[ng, phase, first:first + span] = total[px::sw]
            if a_shift:
                flags = nulls[ng, phase, first:first + span]
                for j in range(span):
                    column = px + sw * j - pad_left
                    flags[j] = not inside or column < 0 or column >= w


@njit(parallel=True, cache=True)
def row_planes_parallel(chunks, x2, x_min, a_shift, planes, words, with_sums, sums):
    """`row_planes` over all the rows in `chunks` parallel chunks."""
    m = x2.shape[0]
    for c in prange(chunks):
        row_planes(c * m // chunks, (c + 1) * m // chunks, x2, x_min, a_shift, planes, words, with_sums, sums)


@njit(cache=True)
def row_planes(first, last, x2, x_min, a_shift, planes, words, with_sums, sums):
    """The layout of `activation_planes` for a linear's rows as the positions of a 1×M image of K
    channels, read in place: x2 [M, K] storage, b = (x - x_min) >> a_shift; words: uint64
    [CW·A, L], word q·A + i at column m = bit i of row m's channels 64q..; with_sums, sums[m] = Σ b.
    Rows [first, last). Each word is an OR reduction over 64 contiguous values, which LLVM vectorizes."""
    k = x2.shape[1]
    cw = words.shape[0] // planes
    for r in range(first, last):
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
