"""Bit-serial conv2d / linear for 1- and 2-bit weights (b1, i2, u2) with 2-8-bit activations.

With activations made unsigned, x_u = x - qmin (zero point z_u = zp_x - qmin), and
weights written over their bit planes b_j (`bitserial_planes.WEIGHT_PLANES`), the
reference's accumulator Σ (x - zp_x)(w - zp_w) is

    Σ_j c_j·P_j + (offset - zp_w)·Σ x_u - z_u·Σ (w - zp_w),   P_j = Σ_i 2^i·popcount(X_i AND B_j)

with X_i the activation bit planes: exact integer identities, so the result equals the
reference bit for bit. The last term is a per-channel constant fixed at load
(`channel_const`); (offset - zp_w) is `x_coef`. Spatial padding holds the zero point
(x_u = z_u), which the identity covers like any other tap. A convolution makes the bit
planes of each input position once (`bitserial_planes.position_planes`)
and copies an output pixel's row together from its taps; a linear row is transposed
into planes directly. Rows are multiplied with every weight row in 4×4 tiles
(`bitserial_tile`). The caller proved
|acc| < 2^31 (else it runs the int64 kernels), so int64 sums equal the int32 ones.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .bitserial_planes import position_planes, to_planes
from .bitserial_tile import VECTOR_WORDS, popcount_tile_4x4
from .rounding import requantize_one


@njit(cache=True)
def _planes_times_weights(x_planes, x_sum, n_rows, w_planes, ch0, planes, plane_coef, x_coef, channel_const, bias,
                          multiplier, shift, y_zp, lo, hi, mode, dst):
    """x_planes: uint64 [rows (multiple of 4), words] activation planes, x_sum: their Σ x_u;
    w_planes: uint64 [W rows, words] of one group, channel c's planes at rows c·len(plane_coef)+j;
    dst[c, r] (int32) gets the requantized output of channel ch0 + c for row r < n_rows.
    The popcount sums are kept channel-major and finished one channel row at a time: those
    loops vectorize (requantization included), a per-output loop over [rows, W] sums took
    as long as the popcounts."""
    rows, row_words = x_planes.shape
    n_w = plane_coef.size
    sums = np.empty((w_planes.shape[0], rows), np.int64)
    for j0 in range(0, w_planes.shape[0], 4):
        for r0 in range(0, rows, 4):
            popcount_tile_4x4(x_planes[r0:r0 + 4], w_planes[j0:j0 + 4], row_words // VECTOR_WORDS, planes - 1,
                              sums[j0:j0 + 4, r0:r0 + 4].T)
    acc = np.empty(n_rows, np.int64)
    for c in range(dst.shape[0]):
        oc = ch0 + c
        per_x = x_coef[oc]
        for r in range(n_rows):
            acc[r] = per_x * x_sum[r] + channel_const[oc] + bias[oc]
        for j in range(n_w):
            coef = plane_coef[j]
            plane_sums = sums[c * n_w + j]
            for r in range(n_rows):
                acc[r] += coef * plane_sums[r]
        m, s, row = multiplier[oc], shift[oc], dst[c]
        for r in range(n_rows):
            row[r] = requantize_one(acc[r], m, s, y_zp, lo, hi, mode)


@njit(cache=True)
def _gather_row(image, sums, wp, oy, ox, kh, kw, sh, sw, dh, dw, run_bits, planes, row):
    """row (zeroed) <- the planes of output pixel (oy, ox)'s taps in (ky, kx, channel) order,
    each tap's channels `run_bits` long; returns Σ x_u over the taps. image: uint64, position
    (y, x)'s `position_planes` words at [(y·wp + x)·block, +block); sums: int64 [Hp·Wp]."""
    block = max(run_bits // 64, 1) * planes
    per_word = 64 // run_bits if run_bits < 64 else 1
    total = np.int64(0)
    tap = 0
    for ky in range(kh):
        y = oy * sh + ky * dh
        for kx in range(kw):
            at = y * wp + ox * sw + kx * dw
            total += sums[at]
            base = at * block
            if run_bits >= 64:  # whole words: one contiguous copy
                for m in range(block):
                    row[tap * block + m] = image[base + m]
            else:  # several taps per word: shift this tap's bits into place
                shift = np.uint64((tap % per_word) * run_bits)
                word = tap // per_word
                for i in range(planes):
                    row[word * planes + i] |= image[base + i] << shift
            tap += 1
    return total


@njit(parallel=True, cache=True)
def qconv2d_bitserial_kernel(xc, z_u, w_planes, planes, run_bits, plane_coef, x_coef, channel_const, kh, kw, sh, sw,
                             dh, dw, bias, multiplier, shift, y_zp, lo, hi, mode, out):
    """xc: centred activations x - zp_x, padded with zeros, [N, C, Hp, Wp] (x_u = xc + z_u);
    w_planes: uint64 [groups, W rows, words] (`bitserial_planes.weight_plane_rows` of
    `conv_weight_rows`); out: [N, Cout, OH, OW]."""
    n_batch, cout, oh, ow = out.shape
    hp, wp = xc.shape[2], xc.shape[3]
    groups = w_planes.shape[0]
    cin_g = xc.shape[1] // groups
    cout_g = cout // groups
    row_words = w_planes.shape[2]
    block = max(run_bits // 64, 1) * planes
    image = np.zeros((n_batch * groups, hp * wp * block), np.uint64)
    sums = np.empty((n_batch * groups, hp * wp), np.int64)
    for task in prange(n_batch * groups * hp):
        ng = task // hp
        y = task % hp
        position_planes(xc[ng // groups], (ng % groups) * cin_g, cin_g, y, z_u, planes,
                        image[ng, y * wp * block:(y + 1) * wp * block], sums[ng, y * wp:(y + 1) * wp])
    rows = -(-ow // 4) * 4
    for task in prange(n_batch * groups * oh):
        n = task // (groups * oh)
        g = (task // oh) % groups
        oy = task % oh
        x_planes = np.zeros((rows, row_words), np.uint64)
        x_sum = np.zeros(rows, np.int64)
        for ox in range(ow):
            x_sum[ox] = _gather_row(image[n * groups + g], sums[n * groups + g], wp, oy, ox, kh, kw, sh, sw, dh, dw,
                                    run_bits, planes, x_planes[ox])
        _planes_times_weights(x_planes, x_sum, ow, w_planes[g], g * cout_g, planes, plane_coef, x_coef,
                              channel_const, bias, multiplier, shift, y_zp, lo, hi, mode,
                              out[n, g * cout_g:(g + 1) * cout_g, oy])


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
        x_planes = np.zeros((4, w_planes.shape[2]), np.uint64)
        x_sum = np.empty(4, np.int64)
        for r in range(4):
            x_sum[r] = to_planes(panel[r], planes, x_planes[r])
        _planes_times_weights(x_planes, x_sum, n_rows, w_planes[0], 0, planes, plane_coef, x_coef, channel_const,
                              bias, multiplier, shift, y_zp, lo, hi, mode, out[r0:r0 + n_rows].T)
