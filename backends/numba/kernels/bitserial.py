"""Bit-serial conv2d / linear for 1- and 2-bit weights (b1, i2, u2) with 2-8-bit activations.

With activations made unsigned, x_u = x - qmin (zero point z_u = zp_x - qmin), and
weights written over their bit planes b_j (`bitserial_planes.WEIGHT_PLANES`), the
reference's accumulator Σ (x - zp_x)(w - zp_w) is

    Σ_j c_j·P_j + (offset - zp_w)·Σ x_u - z_u·Σ (w - zp_w),   P_j = Σ_i 2^i·popcount(X_i AND B_j)

with X_i the activation bit planes: exact integer identities, so the result equals the
reference bit for bit. The last term is a per-channel constant fixed at load
(`channel_const`); (offset - zp_w) is `x_coef`. Spatial padding holds the zero point
(x_u = z_u), which the identity covers like any other tap. Rows of an im2col panel
(`conv_im2col._fill_panel`) or of the linear input are turned into bit planes once and
multiplied with every weight row in 4×4 tiles (`bitserial_tile`). The caller proved
|acc| < 2^31 (else it runs the int64 kernels), so int64 sums equal the int32 ones.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .bitserial_planes import to_planes
from .bitserial_tile import VECTOR_WORDS, popcount_tile_4x4
from .conv_im2col import _fill_panel
from .rounding import requantize_one


@njit(cache=True)
def _rows_times_weights(panel, n_rows, w_planes, ch0, planes, plane_coef, x_coef, channel_const, bias, multiplier,
                        shift, y_zp, lo, hi, mode, dst):
    """panel: uint8 [rows (multiple of 4), Kp] unsigned activations; w_planes: uint64 [W rows, words]
    of one group, channel c's planes at rows c·len(plane_coef)+j; dst[c, r] (int32) gets the
    requantized output of channel ch0 + c for panel row r < n_rows."""
    rows, row_words = panel.shape[0], w_planes.shape[1]
    n_w = plane_coef.size
    x_planes = np.zeros((rows, row_words), np.uint64)
    x_sum = np.empty(rows, np.int64)
    for r in range(rows):
        x_sum[r] = to_planes(panel[r], planes, x_planes[r])
    sums = np.empty((rows, w_planes.shape[0]), np.int64)
    tile = np.empty((4, 4), np.int64)
    for j0 in range(0, w_planes.shape[0], 4):
        for r0 in range(0, rows, 4):
            popcount_tile_4x4(x_planes[r0:r0 + 4], w_planes[j0:j0 + 4], row_words // VECTOR_WORDS, planes - 1, tile)
            sums[r0:r0 + 4, j0:j0 + 4] = tile
    for c in range(dst.shape[0]):
        oc = ch0 + c
        for r in range(n_rows):
            a = x_coef[oc] * x_sum[r] + channel_const[oc] + bias[oc]
            for j in range(n_w):
                a += plane_coef[j] * sums[r, c * n_w + j]
            dst[c, r] = requantize_one(a, multiplier[oc], shift[oc], y_zp, lo, hi, mode)


@njit(parallel=True, cache=True)
def qconv2d_bitserial_kernel(xu, w_planes, planes, plane_coef, x_coef, channel_const, kh, kw, sh, sw, dh, dw, bias,
                             multiplier, shift, y_zp, lo, hi, mode, out):
    """xu: unsigned activations, padded with z_u, [N, C, Hp, Wp] uint8; w_planes: uint64
    [groups, W rows, words] (`bitserial_planes.weight_plane_rows`); out: [N, Cout, OH, OW]."""
    n_batch, cout, oh, ow = out.shape
    groups = w_planes.shape[0]
    cin_g = xu.shape[1] // groups
    cout_g = cout // groups
    kp = w_planes.shape[2] * 64 // planes
    rows = -(-ow // 4) * 4
    for task in prange(n_batch * groups * oh):
        n = task // (groups * oh)
        g = (task // oh) % groups
        oy = task % oh
        panel = np.zeros((rows, kp), np.uint8)
        _fill_panel(xu[n], g * cin_g, cin_g, kh, kw, sh, sw, dh, dw, oy, panel)
        _rows_times_weights(panel, ow, w_planes[g], g * cout_g, planes, plane_coef, x_coef, channel_const, bias,
                            multiplier, shift, y_zp, lo, hi, mode, out[n, g * cout_g:(g + 1) * cout_g, oy])


@njit(parallel=True, cache=True)
def qlinear_bitserial_kernel(xu, w_planes, planes, plane_coef, x_coef, channel_const, bias, multiplier, shift, y_zp,
                             lo, hi, mode, out):
    """xu: unsigned activations [M, K] uint8; w_planes: uint64 [1, W rows, words]; out: [M, N] int32.
    Four input rows per task."""
    m, k = xu.shape
    kp = w_planes.shape[2] * 64 // planes
    for block in prange(-(-m // 4)):
        r0 = 4 * block
        n_rows = min(4, m - r0)
        panel = np.zeros((4, kp), np.uint8)
        panel[:n_rows, :k] = xu[r0:r0 + n_rows]
        _rows_times_weights(panel, n_rows, w_planes[0], 0, planes, plane_coef, x_coef, channel_const, bias,
                            multiplier, shift, y_zp, lo, hi, mode, out[r0:r0 + n_rows].T)
