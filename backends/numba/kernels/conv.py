"""Integer 2-D convolution (qconv1d runs as a 2-D convolution of height 1).

Direct loops, parallel over (batch, output channel). The input is centred (x - zero
point) and padded with zeros beforehand by the caller, which is exactly padding with
the input zero point. A weight row (one output channel: Cin/groups · kh · kw weights)
is unpacked once per task; each weight is a "tap" reading the input plane at a fixed
offset. Taps go four at a time through one pass over the accumulator,
acc[p] += w0·x[o0 + p] + w1·x[o1 + p] + w2·x[o2 + p] + w3·x[o3 + p], so the
accumulator is loaded and stored once per four multiply-adds, and with stride 1 the pass
is one long contiguous loop (over the full padded width: columns past the output width
are junk that requantization skips) that LLVM vectorizes.

The accumulator is int32 when the caller proved |acc| < 2^31 from the weights and the
input range; otherwise int64, and any accumulator outside int32 is reported through
`overflow` (the reference raises there).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .pack import unpack_row
from .rounding import requantize_one

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
TAPS = 4  # taps per accumulator pass (the loop bodies below are written for four)


@njit(cache=True)
def _tap_geometry(cin_g, kh, kw, dh, dw, plane_h, plane_w):
    """Per tap (padded to a multiple of TAPS with dummies reading offset 0): its offset
    from the group's first input plane, and how many wide-layout positions it can read
    before leaving its plane."""
    k = cin_g * kh * kw
    padded = -(-k // TAPS) * TAPS
    plane = plane_h * plane_w
    offset = np.zeros(padded, np.int64)
    room = np.full(padded, plane, np.int64)
    t = 0
    for ic in range(cin_g):
        for ky in range(kh):
            for kx in range(kw):
                inside = ky * dh * plane_w + kx * dw
                offset[t] = ic * plane + inside
                room[t] = plane - inside
                t += 1
    return offset, room


@njit(cache=True)
def accumulate_wide(acc, xflat, base, w, offset, room):
    """Stride 1: acc[p] += Σ_t w[t] · x[base + offset[t] + p], p = oy·Wp + ox."""
    for t in range(0, w.size, TAPS):
        w0, w1, w2, w3 = w[t], w[t + 1], w[t + 2], w[t + 3]
        if w0 == 0 and w1 == 0 and w2 == 0 and w3 == 0:
            continue
        stop = min(acc.size, room[t], room[t + 1], room[t + 2], room[t + 3])
        # slices, so indices are provably non-negative: plain vector loads, no wraparound checks
        s0 = xflat[base + offset[t]:base + offset[t] + stop]
        s1 = xflat[base + offset[t + 1]:base + offset[t + 1] + stop]
        s2 = xflat[base + offset[t + 2]:base + offset[t + 2] + stop]
        s3 = xflat[base + offset[t + 3]:base + offset[t + 3] + stop]
        for p in range(stop):
            acc[p] += w0 * s0[p] + w1 * s1[p] + w2 * s2[p] + w3 * s3[p]


@njit(cache=True)
def accumulate_strided(acc, xflat, base, w, offset, oh, ow, sh, sw, plane_w):
    """Any stride: acc[oy·OW + ox] += Σ_t w[t] · x[base + offset[t] + oy·sh·Wp + ox·sw]."""
    span = (ow - 1) * sw + 1
    for t in range(0, w.size, TAPS):
        w0, w1, w2, w3 = w[t], w[t + 1], w[t + 2], w[t + 3]
        if w0 == 0 and w1 == 0 and w2 == 0 and w3 == 0:
            continue
        for oy in range(oh):
            row = base + oy * sh * plane_w
            s0 = xflat[row + offset[t]:row + offset[t] + span]
            s1 = xflat[row + offset[t + 1]:row + offset[t + 1] + span]
            s2 = xflat[row + offset[t + 2]:row + offset[t + 2] + span]
            s3 = xflat[row + offset[t + 3]:row + offset[t + 3] + span]
            a = acc[oy * ow:(oy + 1) * ow]
            for ox in range(ow):
                q = ox * sw
                a[ox] += w0 * s0[q] + w1 * s1[q] + w2 * s2[q] + w3 * s3[q]


@njit(inline="always", cache=True)
def task_input(xc, cout, groups, task):
    """(image n, output channel oc, flat index in xc of the first input plane of oc's group) of
    the task n·Cout + oc of a kernel parallel over (batch, output channel)."""
    channels, plane = xc.shape[1], xc.shape[2] * xc.shape[3]
    n, oc = task // cout, task % cout
    return n, oc, (n * channels + (oc // (cout // groups)) * (channels // groups)) * plane


@njit(inline="always", cache=True)
def accumulator_width(sh, sw, plane_w, ow):
    """Positions per accumulator row: the full padded width with stride 1 (`accumulate_wide`), else OW."""
    return plane_w if sh == 1 and sw == 1 else ow


@njit(inline="always", cache=True)
def accumulate(acc, xflat, base, w, offset, room, oh, ow, sh, sw, plane_w):
    """The taps' passes over one accumulator plane, `accumulate_wide` with stride 1, else strided."""
    if sh == 1 and sw == 1:
        accumulate_wide(acc, xflat, base, w, offset, room)
    else:
        accumulate_strided(acc, xflat, base, w, offset, oh, ow, sh, sw, plane_w)


@njit(inline="always", cache=True)
def requantize_checked(acc, width, multiplier, shift, y_zp, lo, hi, mode, out, n, oc, overflow, task):
    """out[n, oc] = the requantized accumulator plane (row pitch `width`); overflow[task] = 1 when an
    accumulator is outside int32."""
    oh, ow = out.shape[2], out.shape[3]
    for oy in range(oh):
        for ox in range(ow):
            a = acc[oy * width + ox]
            if a < INT32_MIN or a > INT32_MAX:
                overflow[task] = 1
            out[n, oc, oy, ox] = requantize_one(a, multiplier, shift, y_zp, lo, hi, mode)


@njit(parallel=True, cache=True)
def qconv2d_kernel(xc, packed_w, bits, signed, w_zp, bias, groups, kh, kw, sh, sw, dh, dw,
                   multiplier, shift, y_zp, lo, hi, mode, acc_dtype_like, out, overflow):
    """xc: centred, padded input [N, C, Hp, Wp] int32; packed_w: [Cout, bytes] uint8 rows of
    Cin/groups·kh·kw weights; w_zp, bias, multiplier, shift: per output channel;
    out: [N, Cout, OH, OW] integers; overflow: [N·Cout] flags (int64 accumulators only)."""
    n_batch, cout, oh, ow = out.shape
    cin_g, plane_w = xc.shape[1] // groups, xc.shape[3]
    k = cin_g * kh * kw
    offset, room = _tap_geometry(cin_g, kh, kw, dh, dw, xc.shape[2], plane_w)
    width = accumulator_width(sh, sw, plane_w, ow)
    xflat = xc.ravel()
    for task in prange(n_batch * cout):
        n, oc, base = task_input(xc, cout, groups, task)
        w = np.zeros(offset.size, np.int32)  # dummy taps keep weight 0
        unpack_row(packed_w[oc], k, bits, signed, w)
        for j in range(k):
            w[j] -= w_zp[oc]
        acc = np.full(oh * width, bias[oc], acc_dtype_like.dtype)
        accumulate(acc, xflat, base, w, offset, room, oh, ow, sh, sw, plane_w)
        requantize_checked(acc, width, multiplier[oc], shift[oc], y_zp, lo, hi, mode, out, n, oc, overflow, task)
