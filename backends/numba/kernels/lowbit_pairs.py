"""Convolution (and linear, as a 1×1 convolution) of 2-bit activations and weights on
`lowbit_pair_tile.pair_tile`: two output positions per int16 lane, outputs as lanes.

Layout: for stride (sh, sw) the padded image splits into sh·sw phase planes of row pitch
Ws, as in `conv_vnni.py`, so every tap is a constant offset from the output position. A
word [n, phase, g·CP + cp, q] holds input channels 2cp and 2cp + 1 of group g as int16
halves v(q) + 2^k·v(q + 16), v = x - zp_x the centred activation (0 for zero padding,
channel padding and positions past the plane). The accumulator Σ (x - zp_x)(w - zp_w)
is then the tile's sum itself: no Σx per window, no correction, zero padding exact.

Weights: int32 [groups, R, T], step t = (cp, tap) holding w - zp_w of channels 2cp, 2cp + 1
as int16 halves. `chunk_bounds` splits the T steps so no partial sum leaves the tile's
k-bit field.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .lowbit_pair_tile import LANES, ROWS, WIDTH, pair_tile
from .requant_lanes import LANES as OUTPUT_LANES, requantize_lanes


def field_bits(x_low: int, x_high: int) -> int:
    """The largest k (<= 14) with v0 + 2^k·v1 inside int16 for all centred activations v0, v1 in
    [x_low, x_high]."""
    k = 14
    while k > 2 and ((x_high << k) + x_high > 32767 or (x_low << k) + x_low < -32768):
        k -= 1
    return k


def chunk_bounds(w_steps: np.ndarray, x_abs: int, k: int) -> np.ndarray:
    """Step boundaries [0, ..., T] of chunks in which every row's Σ_t x_abs·(|w0_t| + |w1_t|) stays
    below 2^(k-1): the partial sums the tile extracts fit their k-bit field. w_steps: int64
    [rows, T, 2] centred weights. A step alone above the limit raises ValueError."""
    limit = (1 << (k - 1)) - 1
    per_step = x_abs * np.abs(w_steps).sum(axis=2)  # [rows, T]
    if per_step.size and per_step.max() > limit:
        raise ValueError(f"a weight step's sum bound {per_step.max()} exceeds the {k}-bit field")
    bounds, running = [0], np.zeros(per_step.shape[0], np.int64)
    for t in range(per_step.shape[1]):
        running += per_step[:, t]
        if running.max() > limit:
            bounds.append(t)
            running = per_step[:, t].copy()
    bounds.append(per_step.shape[1])
    return np.asarray(bounds, np.int64)


@njit(parallel=True, cache=True)
def pair_words_parallel(chunks, x, zp, pad_top, pad_left, hp, wp, groups, sh, sw, ws, used, k, out):
    """`pair_words` over all its tasks in `chunks` parallel chunks."""
    tasks = x.shape[0] * out.shape[2]
    for c in prange(chunks):
        pair_words(c * tasks // chunks, (c + 1) * tasks // chunks, x, zp, pad_top, pad_left, hp, wp, groups, sh, sw,
                   ws, used, k, out)


@njit(cache=True)
def pair_words(first, last, x, zp, pad_top, pad_left, hp, wp, groups, sh, sw, ws, used, k, out):
    """Tasks [first, last) of the N·groups·CP (image, channel pair) ones: out[n, phase, g·CP + cp, :]
    (`pair_words`' layout) from x: storage [N, C, H, W] (any strides), zero-padded to [hp, wp] by
    (pad_top, pad_left) here; out: int32 [N, sh·sw, groups·CP, L]. Unused phases are left as they are."""
    channels, h, w = x.shape[1:]
    cin_g = channels // groups
    cp_g = out.shape[2] // groups
    length = out.shape[3]
    values = np.zeros((2, length + LANES), np.int16)
    up, high = np.int16(k), np.int32(16)
    for task in range(first, last):
        n, pair = task // out.shape[2], task % out.shape[2]
        c0 = (pair // cp_g) * cin_g + (pair % cp_g) * 2
        present = min(2, cin_g - (pair % cp_g) * 2)
        for py in range(sh):
            for px in range(sw):
                phase = py * sw + px
                if not used[phase]:
                    continue
                values[:] = 0
                j0 = max(-(-(pad_left - px) // sw), 0)
                j1 = max(min(-(-(w + pad_left - px) // sw), ws), j0)
                for i in range(present):
                    for y in range(py, hp, sh):
                        sy = y - pad_top
                        if 0 <= sy < h:
                            row = values[i, (y // sh) * ws + j0:(y // sh) * ws + j1]
                            source = x[n, c0 + i, sy, px + sw * j0 - pad_left:]
                            for j in range(row.size):
                                row[j] = np.int16(source[sw * j]) - np.int16(zp)
                halves = values[:, :length] + (values[:, LANES:] << up)  # int16, wrapping as the lanes do
                words = out[n, phase, pair]
                for q in range(length):
                    words[q] = (np.int32(halves[0, q]) & 0xFFFF) | (np.int32(halves[1, q]) << high)


def conv_tasks(w_rows, out) -> int:
    """The kernel's tasks: (image, group, block of ROWS output channels)."""
    return out.shape[0] * w_rows.shape[0] * (w_rows.shape[1] // ROWS)


@njit(parallel=True, cache=True)
def qconv2d_pairs_parallel(chunks, images, w_rows, offsets, bounds, k, group_bytes, ws, bias, multiplier, shift,
                           y_zp, lo, hi, mode, out):
    """`qconv2d_pairs_kernel` over all its tasks in `chunks` parallel chunks."""
    tasks = out.shape[0] * w_rows.shape[0] * (w_rows.shape[1] // ROWS)
    for c in prange(chunks):
        qconv2d_pairs_kernel(c * tasks // chunks, (c + 1) * tasks // chunks, images, w_rows, offsets, bounds, k,
                             group_bytes, ws, bias, multiplier, shift, y_zp, lo, hi, mode, out)


@njit(cache=True)
def qconv2d_pairs_kernel(first, last, images, w_rows, offsets, bounds, k, group_bytes, ws, bias, multiplier, shift,
                         y_zp, lo, hi, mode, out):
    """Tasks [first, last) of `conv_tasks`. images: int32 [N, words] (`pair_words`, one image per row);
    w_rows: int32 [groups, R, T]; offsets: int64 [T] bytes from a group's first word; bounds:
    `chunk_bounds`; out: [N, Cout, OH, OW], requantized, columns ox >= OW computed and dropped."""
    cout, oh, ow = out.shape[1:]
    groups = w_rows.shape[0]
    cout_g = cout // groups
    blocks_oc = w_rows.shape[1] // ROWS
    positions = oh * ws
    blocks = -(-positions // WIDTH)
    plane = np.empty((ROWS, blocks * WIDTH + OUTPUT_LANES), np.int32)  # slack: a row's last lanes read on
    for task in range(first, last):
        n = task // (groups * blocks_oc)
        g = (task // blocks_oc) % groups
        j0 = (task % blocks_oc) * ROWS
        for b in range(blocks):
            for c in range(bounds.size - 1):
                pair_tile(w_rows[g, j0:j0 + ROWS], images[n], g * group_bytes + b * WIDTH * 4, offsets, bounds[c],
                          bounds[c + 1] - bounds[c], k, plane, b * WIDTH, c)
        for r in range(min(ROWS, cout_g - j0)):
            oc = g * cout_g + j0 + r
            sums, row = plane[r], out[n, oc]
            for oy in range(oh):  # the kept columns, 16 at a time, straight into the output row
                for ox in range(0, ow, OUTPUT_LANES):
                    requantize_lanes(sums, oy * ws + ox, 0, bias[oc], multiplier[oc], shift[oc], y_zp, lo, hi, mode,
                                     row[oy], ox, min(OUTPUT_LANES, ow - ox), 0, 0)
