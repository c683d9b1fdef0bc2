"""qconv1d / qconv2d, and qlinear as a 1×1 convolution, on the AVX-512 VNNI kernel
(`kernels/conv_vnni.py`) when the host has avx512_vnni and the operands fit u8 × s8:
activation storage of at most 8 bits (signed storage shifted by 128) and centred weights
w - zp_w within int8. The weights are laid out and their zero-point correction's Σw
taken once, when the weight is constant.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numba
import numpy as np

from qcompiler.ir.types import QuantType

from ..kernels.conv_vnni import (conv_tasks, phase_quads, phase_quads_parallel, qconv2d_vnni_kernel,
                                 qconv2d_vnni_parallel)
from ..kernels.vnni_tile import HAS_AVX512_VNNI, ROWS, WIDTH
from ..weights import PackedWeights, centred_int16_rows
from .common import Requant, pad_unless_zeros, storage_int32, zero_point

# a convolution smaller than this runs serially: ~0.2 ms of kernel at one thread, about twice
# what launching a parallel region costs
PARALLEL_MIN_MACS = 32_000_000


def activation_offset(x_t: QuantType):
    """What makes this activation storage u8 (0, or 128 for signed storage), or None."""
    offset = 0 if x_t.qmin >= 0 else 128
    return offset if x_t.qmin + offset >= 0 and x_t.qmax + offset <= 255 else None


@dataclass(frozen=True)
class VnniConvWeights:
    w4: np.ndarray            # s8 [groups, Cout/groups rounded up to ROWS, 4·CQ·kh·kw]
    correction: np.ndarray    # int32 [Cout]: (zx + offset)·Σ(w - zp_w), modulo 2^32 like the sums it corrects
    quads: int                # CQ: input channels per group in fours, rounded up
    kernel: tuple
    offset: int               # activation_offset of the input type
    pad_value: int            # the input's zero point as a u8 activation
    layouts: dict = field(default_factory=dict)  # input geometry -> _Layout


@dataclass(frozen=True)
class _Layout:
    hp: int
    wp: int
    ws: int              # row pitch of a phase plane
    length: int          # positions per phase plane and channel quad, with the tiles' slack
    offsets: np.ndarray  # int64 [CQ·kh·kw]: byte offset of each tap from a group's first byte
    used: np.ndarray     # uint8 [sh·sw]: the phase planes some tap reads


def vnni_conv_weights(weights: PackedWeights, x_t: QuantType, groups: int, kernel: tuple):
    """The weights in the kernel's layout, or None when this host or these operands cannot use it."""
    offset = activation_offset(x_t)
    if not HAS_AVX512_VNNI or offset is None:
        return None
    rows = centred_int16_rows(weights)
    if rows is None or rows.min(initial=0) < -128 or rows.max(initial=0) > 127:
        return None
    cout = rows.shape[0]
    cout_g, cin_g = cout // groups, rows.shape[1] // (kernel[0] * kernel[1])
    quads = -(-cin_g // 4)
    w = np.zeros((groups, -(-cout_g // ROWS) * ROWS, quads * 4) + kernel, np.int8)
    w[:, :cout_g, :cin_g] = rows.reshape((groups, cout_g, cin_g) + kernel)
    # [g, j, CQ, 4, kh, kw] -> [g, j, CQ, kh, kw, 4]: a tap's four channels adjacent
    w = w.reshape((groups, w.shape[1], quads, 4) + kernel).transpose(0, 1, 2, 4, 5, 3)
    pad_value = zero_point(x_t) + offset
    correction = (rows.astype(np.int64).sum(axis=1) * pad_value).astype(np.int32)
    return VnniConvWeights(np.ascontiguousarray(w.reshape(groups, w.shape[1], -1)), correction, quads, kernel,
                           offset, pad_value)


def _layout(plan: VnniConvWeights, hw: tuple, begin: tuple, end: tuple, stride: tuple, dilation: tuple,
            oh: int) -> _Layout:
    key = (hw, begin, end, stride, dilation)
    if key not in plan.layouts:
        (sh, sw), (dh, dw), (kh, kw) = stride, dilation, plan.kernel
        hp, wp = hw[0] + begin[0] + end[0], hw[1] + begin[1] + end[1]
        ws = -(-wp // sw)
        rows_over, cols_over = (kh - 1) * dh // sh, (kw - 1) * dw // sw
        length = max(-(-hp // sh) * ws, -(-(oh * ws) // WIDTH) * WIDTH + rows_over * ws + cols_over)
        ky, kx = np.meshgrid(np.arange(kh) * dh, np.arange(kw) * dw, indexing="ij")
        tap = ((ky % sh) * sw + kx % sw) * plan.w4.shape[0] * plan.quads * length + (ky // sh) * ws + kx // sw
        quad = np.arange(plan.quads)[:, None, None] * length
        offsets = np.ascontiguousarray(((tap[None] + quad) * 4).reshape(-1), np.int64)
        used = np.zeros(sh * sw, np.uint8)
        used[((ky % sh) * sw + kx % sw).reshape(-1)] = 1
        plan.layouts[key] = _Layout(hp, wp, ws, length, offsets, used)
    return plan.layouts[key]


def layout_scratch(shape: tuple) -> np.ndarray:
    """The phase-quad buffer, not zeroed: `phase_quads` writes every word a kept output reads."""
    return np.empty(shape, np.uint32)


def run_vnni_conv(plan: VnniConvWeights, x, pad_mode: str, begin: tuple, end: tuple, stride: tuple,
                  dilation: tuple, bias: np.ndarray, rq: Requant, out: np.ndarray) -> None:
    """out [N, Cout, OH, OW] = the requantized convolution of x (storage [N, C, H, W])."""
    x = np.asarray(x)  # storage in its container: widening u8 to int32 cost as much as the layout
    x = np.ascontiguousarray(x) if x.dtype in (np.uint8, np.int8, np.int32) else storage_int32(x)
    x, begin, end = pad_unless_zeros(x, pad_mode, begin, end)
    layout = _layout(plan, x.shape[2:], begin, end, stride, dilation, out.shape[2])
    groups = plan.w4.shape[0]
    words = layout_scratch((x.shape[0], stride[0] * stride[1], groups * plan.quads, layout.length))
    chunks = parallel_chunks(out.size * plan.w4.shape[2])
    layout_args = (x, plan.offset, plan.pad_value, begin[0], begin[1], layout.hp, layout.wp, groups, stride[0],
                   stride[1], layout.ws, layout.used, words)
    if chunks:
        phase_quads_parallel(chunks, *layout_args)
    else:
        phase_quads(0, x.shape[0] * words.shape[2], *layout_args)
    _convolve(plan, words, layout, bias, rq, out, chunks)


def parallel_chunks(macs: int) -> int:
    """How many chunks to split a convolution of `macs` multiply-adds into over Numba's threads;
    0: run it serially (one thread, or too little work to pay for a parallel launch)."""
    threads = numba.get_num_threads()
    return 4 * threads if threads > 1 and macs >= PARALLEL_MIN_MACS else 0


def _convolve(plan: VnniConvWeights, words: np.ndarray, layout: _Layout, bias: np.ndarray, rq: Requant,
              out: np.ndarray, chunks: int) -> None:
    images = words.reshape(out.shape[0], math.prod(words.shape[1:])).view(np.uint8)  # bytes per image
    args = (images, plan.w4, layout.offsets, plan.quads * layout.length * 4, layout.ws, plan.correction, bias,
            rq.multiplier, rq.shift, rq.zero_point, rq.lo, rq.hi, rq.mode, out)
    if chunks:
        qconv2d_vnni_parallel(chunks, *args)
    else:
        qconv2d_vnni_kernel(0, conv_tasks(plan.w4, out), *args)


def run_vnni_linear(plan: VnniConvWeights, x2: np.ndarray, bias: np.ndarray, rq: Requant) -> np.ndarray:
    """[M, N] = the requantized product of x2 (storage [M, K]) with the plan's [N, K] weights:
    a 1×1 convolution of a 1×M image of K channels, so the M rows are the tile's lanes. Its
    layout is a transpose: four u8 values of a row are one word, [K/4, M] words."""
    m, k = x2.shape
    layout = _layout(plan, (1, m), (0, 0), (0, 0), (1, 1), (1, 1), 1)
    rows = np.zeros((m, plan.quads * 4), np.uint8)  # K padded to quads: the padding's weights are 0
    # signed storage widened first: int8 + 128 leaves int8
    rows[:, :k] = x2 if plan.offset == 0 else np.asarray(x2, np.int16) + plan.offset
    words = layout_scratch((1, 1, plan.quads, layout.length))
    words[0, 0, :, :m] = rows.view(np.uint32).T
    out = np.empty((1, rq.shift.size, 1, m), rq.dtype)
    _convolve(plan, words, layout, bias, rq, out, parallel_chunks(out.size * plan.w4.shape[2]))
    return np.ascontiguousarray(out[0, :, 0, :].T)
