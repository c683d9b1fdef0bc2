"""qconv2d / qconv1d / qlinear with 2-bit weights (i2, u2) and 2-bit activations (u2, i2) on
the paired-position kernel (`kernels/lowbit_pairs.py`), AVX-512 VNNI hosts: weights laid
out and their chunks fixed once at load, the activation words once per call.

W2A2 is the popcount tile's slowest case (four plane pairs: 0.74x the VNNI tile on an Intel
Xeon, where the paired tile runs at 0.9-1.0x); with a binary operand the popcount tile has two
plane pairs or one and stays faster there, and so it does for weights too large to stay in
cache at 16 bits each (bench/RESULTS.md). `ops/bitserial.py` asks
`pairs_plan` first and runs the plan it gets; this module only plans and launches.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from qcompiler.ir.types import QuantType

from ..kernels.lowbit_pair_tile import LANES, ROWS, WIDTH
from ..kernels.lowbit_pairs import (chunk_bounds, conv_tasks, field_bits, pair_words, pair_words_parallel,
                                    qconv2d_pairs_kernel, qconv2d_pairs_parallel)
from ..kernels.vnni_tile import HAS_AVX512_VNNI
from .common import Requant, pad_unless_zeros, zero_point
from .conv_vnni import parallel_chunks
from .phase_taps import phase_taps

PAIRED_STORAGES = ("i2", "u2")  # of both operands: four bit-plane pairs on the popcount tile
# The paired weights take 16 bits per 2-bit weight: past this they stream from memory on every call
# (a 1024×1024 linear's 2 MB ran 0.69x the int8 kernel against 1.02x on the popcount tile's 2 bits)
PAIRED_WEIGHT_BYTES = 512 * 1024


@dataclass(frozen=True)
class PairsPlan:
    w_rows: np.ndarray     # int32 [groups, R, CP·kh·kw] (`kernels/lowbit_pairs.py`)
    kernel: tuple          # (kh, kw)
    pairs: int             # CP: channel pairs per group
    k: int                 # field bits of the packed activations
    x_zero_point: int
    bounds: np.ndarray     # int64 chunk boundaries over the steps
    acc_low: np.ndarray    # int64 [Cout]: the least accumulator any input gives (`bitserial._requantization`)
    acc_high: np.ndarray   # int64 [Cout]: the greatest
    compares: dict = field(default_factory=dict)  # (bias, BinaryFinish) -> b1 requantization
    layouts: dict = field(default_factory=dict)   # input geometry -> _Layout


@dataclass(frozen=True)
class _Layout:
    ws: int
    length: int
    offsets: np.ndarray  # int64 [CP·kh·kw] byte offsets of the steps from a group's first word
    used: np.ndarray     # uint8 [sh·sw]


def pairs_plan(w_t: QuantType, centred: np.ndarray, x_t: QuantType, groups: int, kernel: tuple, bounds: tuple):
    """The paired-position form of centred weights [Cout, Cin/groups, kh·kw] (int64), or None when
    this host, these operands or their field bound cannot use it. bounds: (acc_low, acc_high)."""
    if not HAS_AVX512_VNNI or x_t.storage not in PAIRED_STORAGES or w_t.storage not in PAIRED_STORAGES:
        return None
    zp = zero_point(x_t)
    x_low, x_high = x_t.qmin - zp, x_t.qmax - zp
    k = field_bits(min(x_low, 0), max(x_high, 0))
    cout, cin_g, taps = centred.shape
    if np.abs(centred).max(initial=0) > 32767:
        return None
    pairs, cout_g = -(-cin_g // 2), cout // groups
    if groups * -(-cout_g // ROWS) * ROWS * pairs * taps * 4 > PAIRED_WEIGHT_BYTES:
        return None
    w = np.zeros((groups, -(-cout_g // ROWS) * ROWS, pairs * 2, taps), np.int64)
    w[:, :cout_g, :cin_g] = centred.reshape(groups, cout_g, cin_g, taps)
    w_steps = w.reshape(groups, w.shape[1], pairs, 2, taps).transpose(0, 1, 2, 4, 3)  # [g, r, cp, tap, 2]
    try:
        chunks = chunk_bounds(w_steps.reshape(-1, pairs * taps, 2), max(-x_low, x_high), k)
    except ValueError:
        return None
    halves = (w_steps & 0xFFFF).astype(np.uint32)
    words = (halves[..., 0] | (halves[..., 1] << np.uint32(16))).view(np.int32)
    return PairsPlan(np.ascontiguousarray(words.reshape(groups, w.shape[1], -1)), tuple(kernel), pairs, k, zp,
                     chunks, *bounds)


def _layout(plan: PairsPlan, hw: tuple, stride: tuple, dilation: tuple, oh: int) -> _Layout:
    key = (hw, stride, dilation, oh)
    if key not in plan.layouts:
        taps = phase_taps(hw, stride, dilation, plan.kernel, oh, WIDTH)
        tap = taps.phase * plan.w_rows.shape[0] * plan.pairs * taps.length + taps.shift
        pair = np.arange(plan.pairs)[:, None] * taps.length
        offsets = np.ascontiguousarray(((tap[None] + pair) * 4).reshape(-1), np.int64)
        plan.layouts[key] = _Layout(taps.ws, taps.length, offsets, taps.used)
    return plan.layouts[key]


def run_pairs_conv(plan: PairsPlan, x, pad_mode: str, begin: tuple, end: tuple, stride: tuple, dilation: tuple,
                   out_hw: tuple, bias, rq: Requant) -> np.ndarray:
    """The requantized convolution [N, Cout, OH, OW] of x (storage [N, C, H, W]); zero padding is made
    by the layout, other modes by numpy first."""
    x, begin, end = pad_unless_zeros(np.asarray(x), pad_mode, begin, end)
    groups = plan.w_rows.shape[0]
    hw = (x.shape[2] + begin[0] + end[0], x.shape[3] + begin[1] + end[1])
    layout = _layout(plan, hw, tuple(stride), tuple(dilation), out_hw[0])
    words = np.empty((x.shape[0], stride[0] * stride[1], groups * plan.pairs, layout.length), np.int32)
    out = np.empty((x.shape[0], plan.acc_low.size) + tuple(out_hw), rq.dtype)
    chunks = parallel_chunks(out.size * plan.w_rows.shape[2] * 2)
    layout_args = (np.ascontiguousarray(x), plan.x_zero_point, begin[0], begin[1], hw[0], hw[1], groups, stride[0],
                   stride[1], layout.ws, layout.used, plan.k, words)
    if chunks:
        pair_words_parallel(chunks, *layout_args)
    else:
        pair_words(0, x.shape[0] * words.shape[2], *layout_args)
    _convolve(plan, layout, words, bias, rq, out, chunks)
    return out


def _convolve(plan: PairsPlan, layout: _Layout, words, bias, rq: Requant, out, chunks: int) -> None:
    args = (words.reshape(out.shape[0], -1), plan.w_rows, layout.offsets, plan.bounds, plan.k,
            plan.pairs * layout.length * 4, layout.ws, bias, rq.multiplier, rq.shift, rq.zero_point, rq.lo, rq.hi,
            rq.mode, out)
    if chunks:
        qconv2d_pairs_parallel(chunks, *args)
    else:
        qconv2d_pairs_kernel(0, conv_tasks(plan.w_rows, out), *args)


def run_pairs_linear(plan: PairsPlan, x2: np.ndarray, bias, rq: Requant) -> np.ndarray:
    """The requantized product [M, N] of x2 (storage [M, K]): a 1×1 convolution of a 1×M image of
    K channels, its words made by numpy from the rows (adjacent channels are an int32's halves)."""
    m, k = x2.shape
    layout = _layout(plan, (1, m), (1, 1), (1, 1), 1)
    centred = np.zeros((m + LANES, plan.pairs * 2), np.int16)  # rows past M: the zero high fields
    np.subtract(x2, np.int16(plan.x_zero_point), out=centred[:m, :k], casting="unsafe")
    # words past M are read only for outputs that are dropped
    words = np.empty((1, 1, plan.pairs, layout.length), np.int32)
    words[0, 0, :, :m] = (centred[:m] + (centred[LANES:] << np.int16(plan.k))).view(np.int32).T
    out = np.empty((1, plan.acc_low.size, 1, m), rq.dtype)
    _convolve(plan, layout, words, bias, rq, out, parallel_chunks(out.size * plan.w_rows.shape[2] * 2))
    return np.ascontiguousarray(out[0, :, 0, :].T)
