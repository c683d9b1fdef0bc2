"""Bit-serial conv2d (and linear, as a 1×1 convolution) for 1- and 2-bit weights (b1, i2, u2)
with 1-8-bit activations, on `bitserial_tile.popcount_tile`, outputs as lanes.

With activation bits b = (x - qmin) >> a_shift of the storage x (`bitserial_planes`) and
weights written over their bit planes B_j (storage = Σ_j c_j·B_j + offset), the reference's
accumulator Σ xc·(w - zp_w) over a window, xc = x - zp_x, is

    s_a·Σ_j c_j·P_j + s_a·(offset - zp_w)·Σ b + e·(Σ (w - zp_w) - Σ_{null taps} Σ_tap (w - zp_w)),
    P_j = Σ_i 2^i·popcount(X_i AND B_j),

where xc = s_a·b + e on every real input (s_a = 1, e = qmin - zp_x; binary ±1 storage:
s_a = 2, e = -1, the sign bits) and a null input (binary zero padding, xc = 0) has b = 0
and contributes nothing: exact integer identities, so the result equals the reference
bit for bit. The caller folds s_a and e into `plane_coef`, `x_coef`, `channel_const` and
`tap_coef`, and proved |acc| < 2^31 (else it runs the int64 kernels).

Binary activations with binary weights (W1A1, zero points 0) take XNOR-popcount instead:
with P = Σ popcount(X XOR B) over the window (the disagreeing signs),

    Σ x·w = Cin·(taps - null taps) - 2·(P - Σ_{null taps} popcount(B_tap)),

so no Σ b is needed: `plane_coef` = (-2,), `x_coef` = 0, `channel_const` = Cin·taps and
`tap_coef` = Cin - 2·popcount(B_tap) (a null input's zero bits XOR B count B's bits).

Each task (image, group, block of ROWS weight rows = whole channels) runs the tile over
blocks of WIDTH positions of the output plane in full padded width (columns ox >= OW
computed and discarded, as in `conv_vnni.py`); the tile's store maps each row to c_j·P_j (plus
the channel's constant on plane 0) in int32, which for W1A1 is the accumulator itself; other
kinds add their planes and Σ b in one vector loop per channel. The kept columns are then
requantized 16 at a time (`requant_lanes`); a b1 result comes as a requantization too
(`ops/bitserial.py`).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .bitserial_tile import ROWS, WIDTH, popcount_tile, xor_popcount_tile
from .requant_lanes import LANES, requantize_lanes


@njit(cache=True)
def window_sums(sums, nulls, tap_phase, tap_shift, positions, with_sums, binary, x_sum, null_taps, border, kinds,
                counts):
    """For every image·group and output position p < positions (p = oy·Ws + ox): x_sum = Σ b over its
    window (with_sums). With binary inputs, null_taps[p] = the bitmask of taps reading a null input; the
    positions with any are border[:, 0], their mask's index in `kinds` border[:, 1]; counts =
    (border positions, kinds). A zero-padded window has a few kinds (edges, corners), so the
    kernel sums a channel's correction once per kind, not once per position."""
    for ng in range(sums.shape[0]):  # a few µs each: a parallel launch would cost more
        total = x_sum[ng]
        total[:] = 0
        for t in range(tap_phase.size if with_sums else 0):
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
            n_border, n_kinds = 0, 0
            for p in range(positions):
                if mask[p]:
                    kind = 0
                    while kind < n_kinds and kinds[ng, kind] != mask[p]:
                        kind += 1
                    if kind == n_kinds:
                        kinds[ng, kind] = mask[p]
                        n_kinds += 1
                    border[ng, n_border, 0], border[ng, n_border, 1] = p, kind
                    n_border += 1
            counts[ng, 0], counts[ng, 1] = n_border, n_kinds


def conv_tasks(w_rows, out) -> int:
    """The kernel's tasks: (image, group, block of ROWS weight rows)."""
    return out.shape[0] * w_rows.shape[0] * (w_rows.shape[1] // ROWS)


@njit(parallel=True, cache=True)
def qconv2d_bitserial_parallel(chunks, images, w_rows, xnor, offsets, group_bytes, plane_stride, planes, ws, x_sum,
                               border, kinds, counts, plane_coef, x_coef, channel_const, tap_coef, bias, multiplier,
                               shift, y_zp, lo, hi, mode, out):
    """`qconv2d_bitserial_kernel` over all its tasks in `chunks` parallel chunks."""
    tasks = out.shape[0] * w_rows.shape[0] * (w_rows.shape[1] // ROWS)
    for c in prange(chunks):
        qconv2d_bitserial_kernel(c * tasks // chunks, (c + 1) * tasks // chunks, images, w_rows, xnor, offsets,
                                 group_bytes, plane_stride, planes, ws, x_sum, border, kinds, counts, plane_coef,
                                 x_coef, channel_const, tap_coef, bias, multiplier, shift, y_zp, lo, hi, mode, out)


@njit(cache=True)
def qconv2d_bitserial_kernel(first, last, images, w_rows, xnor, offsets, group_bytes, plane_stride, planes, ws, x_sum,
                             border, kinds, counts, plane_coef, x_coef, channel_const, tap_coef, bias, multiplier,
                             shift, y_zp, lo, hi, mode, out):
    """Tasks [first, last) of `conv_tasks`. images: uint64 [N, words]
    (`bitserial_planes.activation_planes`, one image per row); w_rows: uint64 [groups, R, T]
    (`weight_rows`); xnor: XOR popcounts in place of AND ones; offsets: int64 [T] bytes from a
    group's first word; x_sum, border, kinds, counts: `window_sums`; out: [N, Cout, OH, OW]."""
    n_batch, cout, oh, ow = out.shape
    groups, steps = w_rows.shape[0], offsets.size
    n_w = plane_coef.size
    cout_g = cout // groups
    blocks_rows = w_rows.shape[1] // ROWS
    positions = oh * ws
    blocks = -(-positions // WIDTH)
    for task in range(first, last):
        n = task // (groups * blocks_rows)
        g = (task // blocks_rows) % groups
        j0 = (task % blocks_rows) * ROWS
        ng = n * groups + g
        # the tile maps row r (plane j of channel oc) to c_j·P_j, plus the channel's constant on plane 0
        scale, offset = np.zeros(ROWS, np.int64), np.zeros(ROWS, np.int64)
        for r in range(min(ROWS, (cout_g - j0 // n_w) * n_w)):
            scale[r] = plane_coef[r % n_w]
            if r % n_w == 0:
                oc = g * cout_g + (j0 + r) // n_w
                offset[r] = channel_const[oc] + bias[oc]
        # int32 wraps: exact, the caller proved |acc| < 2^31; 16 lanes of slack for requantize_lanes
        plane = np.empty((ROWS, blocks * WIDTH + LANES), np.int32)
        for b in range(blocks):
            start = g * group_bytes + b * WIDTH * 8
            if xnor:
                xor_popcount_tile(w_rows[g, j0:j0 + ROWS], images[n], start, offsets, plane_stride, planes, steps,
                                  plane, b * WIDTH, scale, offset)
            else:
                popcount_tile(w_rows[g, j0:j0 + ROWS], images[n], start, offsets, plane_stride, planes, steps, plane,
                              b * WIDTH, scale, offset)
        summed = np.empty(positions + LANES, np.int32)
        correction = np.empty(kinds.shape[1], np.int64)
        xs = x_sum[ng]
        for cc in range(min(ROWS // n_w, cout_g - j0 // n_w)):
            oc = g * cout_g + j0 // n_w + cc
            per_x, mapped0 = x_coef[oc], plane[cc * n_w]
            if n_w == 1 and per_x == 0:  # XNOR-popcount (W1A1): the tile's row is the accumulator
                acc = mapped0
            elif n_w == 1:
                acc = summed
                for p in range(positions):
                    acc[p] = np.int32(per_x * xs[p] + mapped0[p])
            else:  # two weight planes, as in every 2-bit storage
                acc, mapped1 = summed, plane[cc * n_w + 1]
                for p in range(positions):
                    acc[p] = np.int32(per_x * xs[p] + np.int64(mapped0[p]) + mapped1[p])
            if counts[ng, 0]:  # binary inputs: windows reading null inputs
                for kind in range(counts[ng, 1]):
                    correction[kind] = 0
                    for t in range(tap_coef.shape[1]):
                        correction[kind] += ((kinds[ng, kind] >> t) & 1) * tap_coef[oc, t]
                for k in range(counts[ng, 0]):
                    acc[border[ng, k, 0]] -= correction[border[ng, k, 1]]
            for oy in range(oh):  # the kept columns, 16 at a time, straight into the output row
                row = out[n, oc, oy]
                for ox in range(0, ow, LANES):
                    requantize_lanes(acc, oy * ws + ox, 0, 0, multiplier[oc], shift[oc], y_zp, lo, hi, mode, row,
                                     ox, min(LANES, ow - ox), 0, 0)
