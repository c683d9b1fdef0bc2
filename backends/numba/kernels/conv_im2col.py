"""Integer 2-D convolution as per-row im2col panels times int16 weight rows.

For inputs and weights of at most 8 bits the centred values fit int16, so each output
pixel is one `dot.dot16` (vpmaddwd) of its receptive field with a weight row, instead
of the tap loops of `conv.py` whose int32 multiplies run one product per lane. Each
parallel task takes one output row of one group of one image: it copies the row's
receptive fields into a contiguous [OW, K] panel (K = Cin/groups·kh·kw, order
channel, ky, kx like the weight rows) that stays in L1 while every output channel of
the group reads it. Tasks (N·groups·OH of them) keep both cores busy even at batch 1.

The caller proved |acc| < 2^31 (else it uses the int64 kernel of `conv.py`).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .dot import dot16
from .rounding import requantize_one


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
        for ic in range(cin_g):
            plane = xc[n, g * cin_g + ic]
            for ky in range(kh):
                row = plane[oy * sh + ky * dh]
                for kx in range(kw):
                    col = (ic * kh + ky) * kw + kx
                    for ox in range(ow):
                        panel[ox, col] = row[ox * sw + kx * dw]
        for oc in range(g * cout_g, (g + 1) * cout_g):
            for ox in range(ow):
                a = np.int64(dot16(panel[ox], w[oc], k)) + bias[oc]
                out[n, oc, oy, ox] = requantize_one(a, multiplier[oc], shift[oc], y_zp, lo, hi, mode)
