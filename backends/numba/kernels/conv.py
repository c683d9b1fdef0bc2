"""Integer 2-D convolution (qconv1d runs as a 2-D convolution of height 1).

Direct loops, parallel over (batch, output channel). For each output channel the packed
weights are unpacked once into a small buffer; then every weight scalar is multiplied
into a whole output row of the accumulator, so with stride 1 the innermost loop reads
the padded input contiguously and vectorizes. The input is centred (x - zero point)
and padded with zeros beforehand by the caller, which is exactly padding with the
input zero point.

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


@njit(cache=True)
def _accumulate_wide(acc, xflat, base, plane_size, wrow, cin_g, kh, kw, dh, dw, oh, wp):
    """Stride-1 rows: acc[oy·wp + ox] += Σ w · x[ic, oy + ky·dh, ox + kx·dw] over the full
    padded width wp, so one long contiguous loop per weight; columns ox >= OW are junk
    the caller skips. Channel ic of the group starts at xflat[base + ic·plane_size]."""
    length = oh * wp
    t = 0
    for ic in range(cin_g):
        start = base + ic * plane_size
        for ky in range(kh):
            for kx in range(kw):
                wv = wrow[t]
                t += 1
                if wv == 0:
                    continue
                offset = start + ky * dh * wp + kx * dw
                # the junk columns of the last row would read past the plane's end
                stop = min(length, plane_size - ky * dh * wp - kx * dw)
                # a slice, so indices are provably non-negative: no wraparound checks, plain vector loads
                src = xflat[offset:offset + stop]
                for p in range(stop):
                    acc[p] += wv * src[p]


@njit(cache=True)
def _accumulate_strided(acc, xg, wrow, cin_g, kh, kw, sh, sw, dh, dw, oh, ow):
    """Any stride: acc[oy·ow + ox] += Σ w · xg[ic, oy·sh + ky·dh, ox·sw + kx·dw]."""
    t = 0
    for ic in range(cin_g):
        for ky in range(kh):
            for kx in range(kw):
                wv = wrow[t]
                t += 1
                if wv == 0:
                    continue
                for oy in range(oh):
                    xrow = xg[ic, oy * sh + ky * dh, kx * dw:]
                    arow = acc[oy * ow:(oy + 1) * ow]
                    for ox in range(ow):
                        arow[ox] += wv * xrow[ox * sw]


@njit(parallel=True, cache=True)
def qconv2d_kernel(xc, packed_w, bits, signed, w_zp, bias, groups, kh, kw, sh, sw, dh, dw,
                   multiplier, shift, y_zp, lo, hi, mode, acc_dtype_like, out, overflow):
    """xc: centred, padded input [N, C, Hp, Wp] int32; packed_w: [Cout, bytes] uint8 rows of
    Cin/groups·kh·kw weights; w_zp, bias, multiplier, shift: per output channel;
    out: [N, Cout, OH, OW] int32; overflow: [N·Cout] flags (int64 accumulators only)."""
    n_batch, cout, oh, ow = out.shape
    cin_g = xc.shape[1] // groups
    cout_g = cout // groups
    k = cin_g * kh * kw
    xflat = xc.ravel()
    for task in prange(n_batch * cout):
        n = task // cout
        oc = task % cout
        g = oc // cout_g
        wrow = np.empty(k, np.int32)
        unpack_row(packed_w[oc], k, bits, signed, wrow)
        for j in range(k):
            wrow[j] -= w_zp[oc]
        if sh == 1 and sw == 1:
            width = xc.shape[3]
            acc = np.full(oh * width, bias[oc], acc_dtype_like.dtype)
            plane_size = xc.shape[2] * width
            _accumulate_wide(acc, xflat, (n * xc.shape[1] + g * cin_g) * plane_size, plane_size,
                             wrow, cin_g, kh, kw, dh, dw, oh, width)
        else:
            width = ow
            acc = np.full(oh * width, bias[oc], acc_dtype_like.dtype)
            _accumulate_strided(acc, xc[n, g * cin_g:(g + 1) * cin_g], wrow, cin_g, kh, kw, sh, sw, dh, dw, oh, ow)
        for oy in range(oh):
            for ox in range(ow):
                a = acc[oy * width + ox]
                if a < INT32_MIN or a > INT32_MAX:
                    overflow[task] = 1
                out[n, oc, oy, ox] = requantize_one(a, multiplier[oc], shift[oc], y_zp, lo, hi, mode)
