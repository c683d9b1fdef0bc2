"""Bit-serial conv2d (and linear, as a 1×1 convolution) for 1- and 2-bit weights (b1, i2, u2)
with 1-8-bit activations, on `bitserial_tile.popcount_tile`, outputs as lanes.

With activation bits b = (xc + z_u) >> a_shift (`bitserial_planes`) and weights written over
their bit planes B_j (storage = Σ_j c_j·B_j + offset), the reference's accumulator
Σ xc·(w - zp_w) over a window is

    s_a·Σ_j c_j·P_j + s_a·(offset - zp_w)·Σ b + e·(Σ (w - zp_w) - Σ_{null taps} Σ_tap (w - zp_w)),
    P_j = Σ_i 2^i·popcount(X_i AND B_j),

where xc = s_a·b + e on every real input (s_a = 1, e = qmin - zp_x; binary ±1 storage:
s_a = 2, e = -1, the sign bits) and a null input (binary zero padding, xc = 0) has b = 0
and contributes nothing: exact integer identities, so the result equals the reference
bit for bit. The caller folds s_a and e into `plane_coef`, `x_coef`, `channel_const` and
`tap_coef`, and proved |acc| < 2^31 (else it runs the int64 kernels).

Each task (image, group, block of ROWS weight rows = whole channels) runs the tile over
blocks of WIDTH positions of the output plane in full padded width (columns ox >= OW
computed and discarded, as in `conv_vnni.py`), then finishes and requantizes one channel
row at a time in vector loops.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .bitserial_tile import ROWS, WIDTH, popcount_tile
from .requant_vector import shift_rounded


@njit(cache=True)
def window_sums(sums, nulls, tap_phase, tap_shift, positions, binary, x_sum, null_taps, border, border_count):
    """For every image·group and output position p < positions (p = oy·Ws + ox): x_sum = Σ b over its
    window; with binary inputs null_taps[p] = the bitmask of taps reading a null input, and
    border[:border_count] the positions with any."""
    for ng in range(sums.shape[0]):  # a few µs each: a parallel launch would cost more
        total = x_sum[ng]
        total[:] = 0
        for t in range(tap_phase.size):
            source = sums[ng, tap_phase[t], tap_shift[t]:tap_shift[t] + positions]
            for p in range(positions):
                total[p] += source[p]
        if binary:
            mask = null_taps[ng]
            mask[:] = 0
            for t in range(tap_phase.size):
                flags = nulls[ng, tap_phase[t], tap_shift[t]:tap_shift[t] + positions]
                bit = np.int64(1) << t
                for p in range(positions):
                    mask[p] |= bit * flags[p]
            count = 0
            for p in range(positions):
                if mask[p]:
                    border[ng, count] = p
                    count += 1
            border_count[ng] = count


@njit(parallel=True, cache=True)
def qconv2d_bitserial_kernel(images, w_rows, offsets, group_bytes, plane_stride, planes, ws, x_sum, null_taps, border,
                             border_count, plane_coef, x_coef, channel_const, tap_coef, bias, multiplier, shift, y_zp,
                             lo, hi, mode, out):
    """images: uint64 [N, words] (`bitserial_planes.activation_planes`, one image per row);
    w_rows: uint64 [groups, R, T] (`weight_rows`); offsets: int64 [T] bytes from a group's
    first word; x_sum, null_taps, border, border_count: `window_sums`; out: [N, Cout, OH, OW]."""
    n_batch, cout, oh, ow = out.shape
    groups, steps = w_rows.shape[0], offsets.size
    n_w = plane_coef.size
    cout_g = cout // groups
    blocks_rows = w_rows.shape[1] // ROWS
    positions = oh * ws
    blocks = -(-positions // WIDTH)
    for task in prange(n_batch * groups * blocks_rows):
        n = task // (groups * blocks_rows)
        g = (task // blocks_rows) % groups
        j0 = (task % blocks_rows) * ROWS
        ng = n * groups + g
        plane = np.empty((ROWS, blocks * WIDTH), np.int64)
        for b in range(blocks):
            popcount_tile(w_rows[g, j0:j0 + ROWS], images[n], g * group_bytes + b * WIDTH * 8, offsets, plane_stride,
                          planes, steps, plane, b * WIDTH)
        acc = np.empty(positions, np.int64)
        xs = x_sum[ng]
        for cc in range(min(ROWS // n_w, cout_g - j0 // n_w)):
            oc = g * cout_g + j0 // n_w + cc
            per_x, constant = x_coef[oc], channel_const[oc] + bias[oc]
            low = plane[cc * n_w]
            if n_w == 1:
                c0 = plane_coef[0]
                for p in range(positions):
                    acc[p] = per_x * xs[p] + constant + c0 * low[p]
            else:  # two weight planes, as in every 2-bit storage
                high, c0, c1 = plane[cc * n_w + 1], plane_coef[0], plane_coef[1]
                for p in range(positions):
                    acc[p] = per_x * xs[p] + constant + c0 * low[p] + c1 * high[p]
            for k in range(border_count[ng]):
                p = border[ng, k]
                for t in range(tap_coef.shape[1]):
                    if (null_taps[ng, p] >> t) & 1:
                        acc[p] -= tap_coef[oc, t]
            m, s = np.int64(multiplier[oc]), np.int64(shift[oc])
            for oy in range(oh):  # loops from 0 over slices: no negative-index checks, so they vectorize
                row, source = out[n, oc, oy], acc[oy * ws:oy * ws + ow]
                for ox in range(ow):
                    row[ox] = np.int32(min(max(shift_rounded(source[ox] * m, s, mode) + y_zp, lo), hi))
