"""Codebook convolution in Numba: each input channel is convolved once with every
codeword, then each output channel gathers the planes its indices name and sums them.

A dense conv multiplies Cout·Cin/g·OH·OW·k² times; this one Cin·K·OH·OW·k² times (K
codewords) plus Cout·Cin/g·OH·OW additions for the gather, so it wins when K ≪ Cout.
The result equals `qcompiler.numerics.codebook_conv.codebook_qconv2d` exactly (same
int32/int64 accumulators, same dyadic requantization as the dense kernels).

Layout follows kernels/conv.py: the input arrives centred (x - zp) and padded with
zeros; with stride 1 a plane is computed over the full padded width so every codeword
entry is one long contiguous multiply-add (columns past OW are junk and skipped).
"""
from __future__ import annotations

from typing import Optional

import numpy as np
from numba import njit, prange

from qcompiler.ir.ops.spatial import pads_attr, plan_windows
from qcompiler.numerics.codebook_conv import INT32_MAX, INT32_MIN, Requant, Window

from .kernels.rounding import ROUNDING_CODES, requantize_one


@njit(cache=True)
def _plane_wide(plane, xflat, start, plane_size, word, dh, dw, wp):
    """Stride 1: plane[oy·wp + ox] = Σ word[ky, kx] · x[oy + ky·dh, ox + kx·dw]."""
    length = plane.size
    for ky in range(word.shape[0]):
        for kx in range(word.shape[1]):
            wv = word[ky, kx]
            if wv == 0:
                continue
            offset = ky * dh * wp + kx * dw
            stop = min(length, plane_size - offset)  # the last row's junk columns would read past the plane
            src = xflat[start + offset:start + offset + stop]
            for p in range(stop):
                plane[p] += wv * src[p]


@njit(cache=True)
def _plane_strided(plane, xc, word, sh, sw, dh, dw, oh, ow):
    """Any stride: plane[oy·ow + ox] = Σ word[ky, kx] · x[oy·sh + ky·dh, ox·sw + kx·dw]."""
    for ky in range(word.shape[0]):
        for kx in range(word.shape[1]):
            wv = word[ky, kx]
            if wv == 0:
                continue
            for oy in range(oh):
                xrow = xc[oy * sh + ky * dh, kx * dw:]
                prow = plane[oy * ow:(oy + 1) * ow]
                for ox in range(ow):
                    prow[ox] += wv * xrow[ox * sw]


@njit(parallel=True, cache=True)
def codebook_conv2d_kernel(xc, codebook, indices, bias, groups, sh, sw, dh, dw, multiplier, shift, y_zp, lo, hi,
                           mode, acc_dtype_like, planes, out, overflow):
    """xc: centred, padded input [N, Cin, Hp, Wp] int32; codebook: [K, kh, kw] int32;
    indices: [Cout, Cin/g] int64; bias, multiplier, shift: per output channel; planes:
    scratch [Cin, K, OH·width] of the accumulator dtype; out: [N, Cout, OH, OW] int32;
    overflow: [N·Cout]."""
    n_batch, cout, oh, ow = out.shape
    cin, n_words = xc.shape[1], codebook.shape[0]
    cin_g, cout_g = cin // groups, cout // groups
    wide = sh == 1 and sw == 1
    width = xc.shape[3] if wide else ow
    plane_size = xc.shape[2] * xc.shape[3]
    xflat = xc.ravel()
    for n in range(n_batch):
        for task in prange(cin * n_words):
            c, k = task // n_words, task % n_words
            plane = planes[c, k]
            plane[:] = 0
            if wide:
                _plane_wide(plane, xflat, (n * cin + c) * plane_size, plane_size, codebook[k], dh, dw, xc.shape[3])
            else:
                _plane_strided(plane, xc[n, c], codebook[k], sh, sw, dh, dw, oh, ow)
        for o in prange(cout):
            first = (o // cout_g) * cin_g
            acc = np.full(oh * width, bias[o], acc_dtype_like.dtype)
            for j in range(cin_g):
                plane = planes[first + j, indices[o, j]]
                for p in range(oh * width):
                    acc[p] += plane[p]
            for oy in range(oh):
                for ox in range(ow):
                    a = acc[oy * width + ox]
                    if a < INT32_MIN or a > INT32_MAX:
                        overflow[n * cout + o] = 1
                    out[n, o, oy, ox] = requantize_one(a, multiplier[o], shift[o], y_zp, lo, hi, mode)


def codebook_qconv2d_numba(x: np.ndarray, x_zero_point: int, codebook: np.ndarray, indices: np.ndarray,
                           bias: Optional[np.ndarray], window: Window, requant: Requant) -> np.ndarray:
    """Same arguments and result as the reference `codebook_qconv2d`; raises OverflowError
    where it does (an accumulator outside int32)."""
    x = np.asarray(x)
    cout = indices.shape[0]
    kh, kw = codebook.shape[1:]
    begin, end = pads_attr(window.pad, 2, "codebook conv")
    plan = plan_windows(x.shape[2:], (kh, kw), window.stride, window.dilation, begin, end, "codebook conv")
    xc = np.pad(np.asarray(x, np.int32) - np.int32(x_zero_point), [(0, 0), (0, 0)] + list(zip(begin, end)))
    bias = np.zeros(cout, np.int64) if bias is None else np.asarray(bias, np.int64)
    words = np.ascontiguousarray(codebook, np.int32)
    idx = np.ascontiguousarray(indices, np.int64)
    # int32 accumulators when |acc| < 2^31 is proven from the input range and the codewords
    extent = int(np.abs(xc).max(initial=0))
    bound = np.abs(bias) + extent * np.abs(words).reshape(len(words), -1).sum(1)[idx].sum(1)
    acc_like = np.zeros(1, np.int32 if bound.max(initial=0) < 2**31 else np.int64)
    wide = tuple(window.stride) == (1, 1)
    planes = np.empty((xc.shape[1], len(words), plan.out[0] * (xc.shape[3] if wide else plan.out[1])), acc_like.dtype)
    out = np.empty((x.shape[0], cout) + plan.out, np.int32)
    overflow = np.zeros(x.shape[0] * cout, np.uint8)
    codebook_conv2d_kernel(np.ascontiguousarray(xc), words, idx, bias.astype(acc_like.dtype), window.groups,
                           window.stride[0], window.stride[1], window.dilation[0], window.dilation[1],
                           np.asarray(requant.multiplier, np.int64), np.asarray(requant.shift, np.int64),
                           requant.zero_point, requant.lo, requant.hi, ROUNDING_CODES[requant.rounding], acc_like,
                           planes, out, overflow)
    if overflow.any():
        raise OverflowError("accumulator outside int32")
    return out
