"""Integer 2-D convolution in AVX-512 VNNI tiles (`vnni_tile.tile_u8_vectors`), outputs as lanes.

The input is laid out once per call as u8 "phase quads": for stride (sh, sw) the padded
image splits into sh·sw phase planes (rows ≡ py mod sh, columns ≡ px mod sw), each
flattened with row pitch Ws = ceil(Wp / sw), and every four input channels of a group
interleave their bytes, [N, sh·sw, groups·CQ, L, 4]. In a phase plane every tap of the
kernel is a constant offset from the output position p = oy·Ws + ox, so 16 consecutive
positions × 4 channels are one contiguous 64-byte load for any stride and dilation: one
pass over the input per call instead of an im2col copy per tap (a 1×1 stride-2 layout
writes one phase of four). Columns ox >= OW of each row are computed and discarded (the
"full padded width" of `conv.py`).

Each task (image, group, block of ROWS output channels) runs the tile over blocks of
WIDTH positions into an int32 plane, then requantizes each row's kept columns 16 lanes at
a time (two rows per vector when both fit) straight into the output in its storage
container (`requant_lanes`). Activations are u8
(storage + offset, padding with the shifted zero point u_zp), weights s8 w - zp_w:
Σ u·w - u_zp·Σw is the centred accumulator.

Both kernels run a range of their tasks serially; each `_parallel` twin splits all tasks
into chunks over Numba's threads. Launching a parallel region cost ~0.09 ms of CPU even at
one thread (workqueue layer, loaded host), more than a small layer's whole kernel, so the
caller picks (`ops/conv_vnni.parallel_chunks`).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .quad_words import LANES as QUAD_LANES, quad_words
from .requant_lanes import LANES as OUTPUT_LANES, requantize_lanes
from .vnni_tile import LANES, ROWS, WIDTH, tile_u8_vectors


@njit(parallel=True, cache=True)
def phase_quads_parallel(chunks, x, offset, pad_value, pad_top, pad_left, hp, wp, groups, sh, sw, ws, used, out):
    """`phase_quads` over all its tasks in `chunks` parallel chunks."""
    tasks = x.shape[0] * out.shape[2]
    for c in prange(chunks):
        phase_quads(c * tasks // chunks, (c + 1) * tasks // chunks, x, offset, pad_value, pad_top, pad_left, hp, wp,
                    groups, sh, sw, ws, used, out)


@njit(cache=True)
def phase_quads(first, last, x, offset, pad_value, pad_top, pad_left, hp, wp, groups, sh, sw, ws, used, out):
    """out[n, (y % sh)·sw + x % sw, g·CQ + ci // 4, (y // sh)·Ws + x // sw] byte ci % 4 = x + offset
    for the input channel g·Cin/g + ci at padded position (y, x), pad_value outside the
    image, for the phases p with used[p] (a 1×1 stride-2 convolution reads one of four).
    out: uint32 words (four channels' bytes, low byte first), channel padding 0; words
    past a phase plane's rows and columns, slack and unused phases are left as they are:
    only outputs that are discarded read them. Tasks [first, last) of the N·groups·CQ (image, channel
    quad) ones, a row at a time."""
    channels, h, w = x.shape[1:]
    cin_g = channels // groups
    cq = out.shape[2] // groups
    pad_word = np.uint32(pad_value) * np.uint32(0x01010101)
    for task in range(first, last):
        n, q = task // out.shape[2], task % out.shape[2]
        c0 = (q // cq) * cin_g + (q % cq) * 4
        quad_channels = min(4, cin_g - (q % cq) * 4)
        for y in range(hp):
            sy = y - pad_top
            row_inside = 0 <= sy < h
            for px in range(sw):
                if not used[(y % sh) * sw + px]:
                    continue
                words = out[n, (y % sh) * sw + px, q, (y // sh) * ws:(y // sh + 1) * ws]
                columns = (wp - px + sw - 1) // sw
                first = min(max(-(-(pad_left - px) // sw), 0), columns) if row_inside else columns
                last = max(min(-(-(w + pad_left - px) // sw), columns), first) if row_inside else columns
                for j in range(first):
                    words[j] = pad_word
                for j in range(last, columns):
                    words[j] = pad_word
                start = first * sw + px - pad_left
                phase, row_start = (y % sh) * sw + px, (y // sh) * ws + first
                if sw == 1:  # 16 words per vector step, the step a literal
                    for j in range(0, last - first, QUAD_LANES):
                        quad_words(x, n, c0, quad_channels, sy, start + j, 1, offset, out, phase, q, row_start + j,
                                   min(QUAD_LANES, last - first - j))
                elif sw == 2:
                    for j in range(0, last - first, QUAD_LANES):
                        quad_words(x, n, c0, quad_channels, sy, start + 2 * j, 2, offset, out, phase, q,
                                   row_start + j, min(QUAD_LANES, last - first - j))
                else:
                    _row_words(words[first:last], x, n, c0, quad_channels, sy, start, sw, offset)


@njit(inline="always", cache=True)
def _row_words(inside, x, n, c0, channels, sy, start, step, offset):
    """inside[j] = the bytes x[n, c0 + lane, sy, start + step·j] + offset, lane < channels, as one
    word (the rest 0), one channel at a time: strides above 2 only. Slices and loops from 0:
    no negative-index checks in the loops."""
    end = start + step * inside.size
    inside[:] = 0  # the channel padding's bytes (their weights are 0, but no stale values)
    for lane in range(channels):
        source = x[n, c0 + lane, sy, start:end]
        bits = np.uint32(8 * lane)
        for j in range(inside.size):
            inside[j] |= np.uint32((source[step * j] + offset) & 255) << bits


@njit(cache=True)
def conv_tasks(w4, out):
    """How many tasks `qconv2d_vnni_kernel` has: (image, group, block of ROWS output channels)."""
    groups = w4.shape[0]
    return out.shape[0] * groups * -(-(out.shape[1] // groups) // ROWS)


@njit(parallel=True, cache=True)
def qconv2d_vnni_parallel(chunks, xr, w4, offsets, group_bytes, ws, correction, bias, multiplier, shift, y_zp, lo, hi,
                          mode, out):
    """`qconv2d_vnni_kernel` over all its tasks in `chunks` parallel chunks."""
    tasks = conv_tasks(w4, out)
    for c in prange(chunks):
        qconv2d_vnni_kernel(c * tasks // chunks, (c + 1) * tasks // chunks, xr, w4, offsets, group_bytes, ws,
                            correction, bias, multiplier, shift, y_zp, lo, hi, mode, out)


@njit(cache=True)
def qconv2d_vnni_kernel(first, last, xr, w4, offsets, group_bytes, ws, correction, bias, multiplier, shift, y_zp, lo,
                        hi, mode, out):
    """Tasks [first, last) of `conv_tasks`. xr: phase quads [N, bytes] u8; w4: s8 weights [groups,
    Cout/groups rounded up to ROWS, 4·T], tap t's four channels at 4t; offsets: int64 [T] byte
    offset of tap t from a group's first byte; correction: int32 [Cout] u_zp·Σw (mod 2^32); out:
    C-contiguous [N, Cout, OH, OW] of 8-32-bit integers holding [lo, hi]."""
    cout, oh, ow = out.shape[1:]
    groups, steps = w4.shape[0], offsets.size
    cout_g = cout // groups
    blocks_oc = -(-cout_g // ROWS)
    blocks = -(-(oh * ws) // WIDTH)
    plane = np.empty((ROWS, blocks * WIDTH + OUTPUT_LANES), np.int32)  # slack: a row's last lanes read on
    for task in range(first, last):
        n = task // (groups * blocks_oc)
        g = (task // blocks_oc) % groups
        j0 = (task % blocks_oc) * ROWS
        image = xr[n]
        for b in range(blocks):
            tile_u8_vectors(w4[g, j0:j0 + ROWS], image, g * group_bytes + b * WIDTH * 4, offsets, LANES * 4, steps,
                            plane, b * WIDTH)
        for r in range(min(ROWS, cout_g - j0)):
            oc = g * cout_g + j0 + r
            sums, kept = plane[r], out[n, oc].reshape(oh * ow)
            c, bias_oc, m, s = correction[oc], bias[oc], multiplier[oc], shift[oc]
            if ws + ow <= OUTPUT_LANES:  # narrow rows: two per vector, the columns between skipped
                for oy in range(0, oh, 2):
                    requantize_lanes(sums, oy * ws, c, bias_oc, m, s, y_zp, lo, hi, mode, kept, oy * ow, ow, ws - ow,
                                     ow if oy + 1 < oh else 0)
                continue
            for oy in range(oh):  # the kept columns of each row, 16 at a time, straight into the output
                for x0 in range(0, ow, OUTPUT_LANES):
                    requantize_lanes(sums, oy * ws + x0, c, bias_oc, m, s, y_zp, lo, hi, mode, kept, oy * ow + x0,
                                     min(OUTPUT_LANES, ow - x0), 0, 0)
