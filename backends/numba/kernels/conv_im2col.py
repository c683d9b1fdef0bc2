"""Integer 2-D convolution as per-row im2col panels times int16 weight rows.

For inputs and weights of at most 8 bits the centred values fit int16, so each output
pixel is one `dot.dot16` (vpmaddwd) of its receptive field with a weight row, instead
of the tap loops of `conv.py` whose int32 multiplies run one product per lane. Each
parallel task takes one output row of one group of one image: it copies the row's
receptive fields into a contiguous [OW, K] panel (K = Cin/groups·kh·kw, order
channel, ky, kx like the weight rows) that stays in L1 while every output channel of
the group reads it. Tasks (N·groups·OH of them) keep both cores busy even at batch 1.

On hosts with AVX-512 BW the tiled kernel computes 4 pixels × 4 output channels at a
time with `tile16.pmadd_tile_4x4` (no horizontal sum per output), over a panel and
weight rows zero-padded to multiples of 4 rows and `tile16.LANES` columns.

The caller proved |acc| < 2^31 (else it uses the int64 kernel of `conv.py`).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .dot import dot16
from .tile16 import pmadd_tile_4x4
from .rounding import requantize_one


@njit(cache=True)
def _fill_panel(image, c0, cin_g, kh, kw, sh, sw, dh, dw, oy, panel):
    """panel[ox, (ic·kh + ky)·kw + kx] = image[c0 + ic, oy·sh + ky·dh, ox·sw + kx·dw] for the
    output row oy. Columns past K are left as they are; rows past OW (tile padding) read
    past the last output (0 beyond the row): their outputs are discarded."""
    for ic in range(cin_g):
        plane = image[c0 + ic]
        for ky in range(kh):
            row = plane[oy * sh + ky * dh]
            for kx in range(kw):
                col = (ic * kh + ky) * kw + kx
                start = kx * dw
                inside = min(panel.shape[0], (row.size - 1 - start) // sw + 1)
                for ox in range(inside):
                    panel[ox, col] = row[start + ox * sw]
                for ox in range(inside, panel.shape[0]):
                    panel[ox, col] = 0


@njit(parallel=True, cache=True)
def qconv2d_im2col_kernel(xc, w, groups, kh, kw, sh, sw, dh, dw, bias, multiplier, shift, y_zp, lo, hi, mode,
                          out):
    """xc: centred, padded input [N, C, Hp, Wp] int16; w: centred weights [Cout, K] int16;
    bias, multiplier, shift: per output channel; out: [N, Cout, OH, OW] int32."""
    n_batch, cout, oh, ow = out.shape
    cin_g = xc.shape[1] // groups
    cout_g = cout // groups
    k = cin_g * kh * kw
    for task in prange(n_batch * groups * oh):
        n = task // (groups * oh)
        g = (task // oh) % groups
        oy = task % oh
        panel = np.empty((ow, k), np.int16)
        _fill_panel(xc[n], g * cin_g, cin_g, kh, kw, sh, sw, dh, dw, oy, panel)
        for oc in range(g * cout_g, (g + 1) * cout_g):
            for ox in range(ow):
                a = np.int64(dot16(panel[ox], w[oc], k)) + bias[oc]
                out[n, oc, oy, ox] = requantize_one(a, multiplier[oc], shift[oc], y_zp, lo, hi, mode)


@njit(parallel=True, cache=True)
def qconv2d_im2col_tiled_kernel(xc, w, kh, kw, sh, sw, dh, dw, bias, multiplier, shift, y_zp, lo, hi, mode, out):
    """xc: centred, padded input [N, C, Hp, Wp] int16; w: centred weights [groups, Cout/groups
    rounded up to 4, Kp] int16, zero-padded, Kp a multiple of tile16.LANES; out: [N, Cout, OH, OW]."""
    n_batch, cout, oh, ow = out.shape
    groups, kp = w.shape[0], w.shape[2]
    cin_g = xc.shape[1] // groups
    cout_g = cout // groups
    rows = -(-ow // 4) * 4
    for task in prange(n_batch * groups * oh):
        n = task // (groups * oh)
        g = (task // oh) % groups
        oy = task % oh
        panel = np.zeros((rows, kp), np.int16)
        _fill_panel(xc[n], g * cin_g, cin_g, kh, kw, sh, sw, dh, dw, oy, panel)
        tile = np.empty((4, 4), np.int32)
        for j0 in range(0, cout_g, 4):
            for ox0 in range(0, ow, 4):
                pmadd_tile_4x4(panel[ox0:ox0 + 4], w[g, j0:j0 + 4], kp, tile)
                for r in range(min(4, ow - ox0)):
                    for c in range(min(4, cout_g - j0)):
                        oc = g * cout_g + j0 + c
                        a = np.int64(tile[r, c]) + bias[oc]
                        out[n, oc, oy, ox0 + r] = requantize_one(a, multiplier[oc], shift[oc], y_zp, lo, hi, mode)
