"""qconv2d / qconv1d / qlinear with constant b1, i2 or u2 weights on the bit-serial kernel
(`kernels/bitserial.py`): weight bit planes and per-channel constants built once at load,
the activation bit planes once per call.

`products.py` asks `bitserial_plan` at preparation; None (other weight widths, weights
computed at run time, activations wider than 8 bits, binary activations with more than 64
taps) keeps its own kernels, and so does a call whose accumulator is not
proven to fit int32. A linear is a 1×1 convolution of a 1×M image of K channels.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from qcompiler.ir.types import QuantType

from ..kernels.bitserial import conv_tasks, qconv2d_bitserial_kernel, qconv2d_bitserial_parallel, window_sums
from ..kernels.bitserial_planes import (WEIGHT_PLANES, activation_planes, activation_planes_parallel, row_planes,
                                        row_planes_parallel, weight_rows)
from ..kernels.bitserial_tile import ROWS, WIDTH
from ..kernels.pack import unpack_rows
from ..weights import PackedWeights
from .binary_results import BinaryFinish
from .common import Requant, pad_unless_zeros, zero_point
from .conv_vnni import parallel_chunks
from .lowbit_pairs import PairsPlan, pairs_plan, run_pairs_conv, run_pairs_linear
from .phase_taps import phase_taps

_COMPARES_KEPT = 8  # b1 requantizations a plan keeps (one per bias and result seen: one in a model)


@dataclass(frozen=True)
class BitserialPlan:
    w_rows: np.ndarray         # uint64 [groups, R, kh·kw·CW] (`weight_rows`)
    kernel: tuple              # (kh, kw)
    channel_words: int         # CW: 64-channel words per group
    planes: int                # activation bit planes A
    a_shift: int               # 1 for binary ±1 activations (sign bits), else 0
    x_min: int                 # qmin: b = (x - x_min) >> a_shift
    pad_bits: int              # b of the zero point, for zero padding (binary inputs: 0, and nulls)
    xnor: bool                 # W1A1: popcounts of X XOR B, no Σ b (kernels/bitserial.py)
    plane_coef: np.ndarray     # int64 [W]: s_a·c_j
    x_coef: np.ndarray         # int64 [Cout]: s_a·(offset - zp_w)
    channel_const: np.ndarray  # int64 [Cout]: e·Σ (w - zp_w)
    tap_coef: np.ndarray       # int64 [Cout, kh·kw]: e·Σ_tap (w - zp_w), taken off for null taps (binary inputs)
    acc_low: np.ndarray        # int64 [Cout]: the least Σ (x - zp_x)·(w - zp_w) any input gives
    acc_high: np.ndarray       # int64 [Cout]: the greatest
    layouts: dict = field(default_factory=dict)  # input geometry -> _Layout
    compares: dict = field(default_factory=dict)  # (bias, BinaryFinish) -> `_requantization` of a b1 result


@dataclass(frozen=True)
class _Layout:
    ws: int                # row pitch of a phase plane
    length: int            # positions per phase plane and word row, with the tiles' slack
    offsets: np.ndarray    # int64 [kh·kw·CW]: byte offset of (tap, channel word) from a group's first word
    used: np.ndarray       # uint8 [sh·sw]: the phase planes some tap reads
    tap_phase: np.ndarray  # int64 [kh·kw]
    tap_shift: np.ndarray  # int64 [kh·kw]: positions from the output position in its phase plane
    windows: dict = field(default_factory=dict)  # (images, pads, H, W) -> `window_sums` of binary inputs, no Σ b


def bitserial_plan(w_t: QuantType, weights: PackedWeights, x_t: QuantType, groups: int, kernel=(1, 1)):
    """The bit-serial form of constant packed weights [Cout, K] (a convolution's K = Cin/groups·kh·kw),
    a `PairsPlan` for the paired-position kernel, or None when neither applies."""
    binary = x_t.storage == "b1"
    taps = kernel[0] * kernel[1]
    if w_t.storage not in WEIGHT_PLANES or x_t.bits > 8 or weights.packed.ndim != 2 or (binary and taps > 64):
        return None
    coefficients, offset = WEIGHT_PLANES[w_t.storage]
    stored = unpack_rows(weights.packed, weights.k, weights.bits, weights.signed).astype(np.int64)
    zp_w = weights.zero_point.astype(np.int64)
    rows = weight_rows(stored, w_t.storage, groups, kernel, ROWS)
    common = (rows, tuple(kernel), rows.shape[2] // taps, x_t.bits, int(binary), x_t.qmin,
              0 if binary else zero_point(x_t) - x_t.qmin)
    cout, cin_g = stored.shape[0], stored.shape[1] // taps
    centred = (stored - zp_w[:, None]).reshape(cout, -1, taps)
    # the extremes of x - zp: the real values' ends and 0 (zero padding, a binary null input)
    x_ends = [0] + [end - zero_point(x_t) for end in ((-1, 1) if binary else (x_t.qmin, x_t.qmax))]
    extremes = np.stack([end * centred for end in x_ends])
    bounds = (extremes.min(axis=0).sum(axis=(1, 2)), extremes.max(axis=0).sum(axis=(1, 2)))
    xnor = binary and zero_point(x_t) == 0 and w_t.storage == "b1" and not zp_w.any()
    # W2A2 on AVX-512 VNNI hosts: two positions per int16 lane (ops/lowbit_pairs.py)
    paired = pairs_plan(w_t, centred, x_t, groups, kernel, bounds)
    if paired is not None:
        return paired
    # W1A1 on ±1 activations (zero point 0): XNOR-popcount (kernels/bitserial.py)
    if xnor:
        positive_per_tap = (stored.reshape(cout, cin_g, taps) == 1).sum(axis=1)
        return BitserialPlan(*common, True, np.array([-2], np.int64), np.zeros(cout, np.int64),
                             np.full(cout, cin_g * taps, np.int64), cin_g - 2 * positive_per_tap, *bounds)
    # x - zp = scale·b + e with b the stored bit: binary -1 / +1 is b = 0 / 1, so x - zp = 2b - 1 - zp
    scale, e = (2 if binary else 1), x_t.qmin - zero_point(x_t)
    tap_coef = e * centred.sum(axis=1) if binary else np.zeros((cout, 0), np.int64)
    return BitserialPlan(*common, False, scale * np.array(coefficients, np.int64), scale * (offset - zp_w),
                         e * centred.sum(axis=(1, 2)), tap_coef, *bounds)


def _layout(plan: BitserialPlan, hw: tuple, stride: tuple, dilation: tuple, oh: int) -> _Layout:
    key = (hw, stride, dilation, oh)
    if key not in plan.layouts:
        taps = phase_taps(hw, stride, dilation, plan.kernel, oh, WIDTH)
        word_rows = plan.w_rows.shape[0] * plan.channel_words * plan.planes
        first_word = taps.phase * word_rows * taps.length + taps.shift  # in words, channel word 0, plane 0
        q = np.arange(plan.channel_words) * plan.planes * taps.length
        offsets = np.ascontiguousarray(((first_word[:, None] + q[None]) * 8).reshape(-1), np.int64)
        plan.layouts[key] = _Layout(taps.ws, taps.length, offsets, taps.used, taps.phase.astype(np.int64),
                                    taps.shift.astype(np.int64))
    return plan.layouts[key]


def _chunks(plan: BitserialPlan, outputs: int) -> int:
    """Parallel chunks, as for the VNNI kernel (serial at one thread or on little work: a parallel launch
    costs ~50 µs of CPU in the workqueue layer), counting a binary product of each (weight plane,
    activation plane) pair as a quarter of an int8 one (the W1A1 tile alone runs 4-4.75x the VNNI tile)."""
    pairs = plan.planes * plan.plane_coef.size
    return parallel_chunks(outputs * plan.w_rows.shape[2] * 64 * pairs // 4)


def _requantization(plan: BitserialPlan, bias, rq: Requant, finish) -> tuple:
    """(bias, Requant) the kernel runs with, and whether its output is the node's result. A b1 result
    (hi where acc >= T, else lo) is the requantization 2·(acc - T') + 1 at shift 0 and zero point 1
    clamped to [lo, hi], with T' = T moved into [least, greatest + 1] of the channel's accumulators
    (the same compare) and taken off through the bias: one integer compare's worth of work in the
    kernel's vector requantization, no int32 map and second pass. When acc - T' may leave int32 the
    kernel returns the accumulators (the unit requantization) and `finish` thresholds them after."""
    if not isinstance(finish, BinaryFinish):
        return bias, rq, False
    key = (bias.tobytes(), finish)  # ~20 numpy calls' worth of Python per call otherwise
    if key not in plan.compares:
        least, greatest = plan.acc_low + bias, plan.acc_high + bias
        if (greatest + 1 - least).max() >= 2**31:
            plan.compares[key] = bias, rq, False
        else:
            moved = np.clip(finish.thresholds, least, greatest + 1)
            channels = rq.shift.size
            compare = Requant((np.full(channels, 2, np.int64),), np.zeros(channels, np.int64), rq.mode, 1,
                              finish.lo, finish.hi, np.dtype(np.int8))
            if len(plan.compares) >= _COMPARES_KEPT:
                plan.compares.clear()
            plan.compares[key] = np.asarray(bias, np.int64) - moved, compare, True
    return plan.compares[key]


def _identity(y):
    return y


def run_bitserial_conv(plan: BitserialPlan, x, pad_mode: str, begin: tuple, end: tuple, stride: tuple,
                       dilation: tuple, out_hw: tuple, bias, rq: Requant, finish=_identity) -> np.ndarray:
    """finish(the requantized convolution of x), [N, Cout, OH, OW] (x: storage [N, C, H, W]; finish
    maps an output with channels on axis 1 to the node's result, elementwise per channel); zero
    padding is made by the layout, other modes by numpy first."""
    if isinstance(plan, PairsPlan):
        bias, rq, finished = _requantization(plan, bias, rq, finish)
        out = run_pairs_conv(plan, x, pad_mode, begin, end, stride, dilation, out_hw, bias, rq)
        return out if finished else finish(out)
    x = np.asarray(x)
    x, begin, end = pad_unless_zeros(x, pad_mode, begin, end)
    n_batch = x.shape[0]
    groups = plan.w_rows.shape[0]
    hw = (x.shape[2] + begin[0] + end[0], x.shape[3] + begin[1] + end[1])
    layout = _layout(plan, hw, tuple(stride), tuple(dilation), out_hw[0])
    phases = stride[0] * stride[1]
    words = np.empty((n_batch, phases, groups * plan.channel_words * plan.planes, layout.length), np.uint64)
    sums = np.zeros((n_batch * groups, phases, layout.length), np.int64)
    nulls = np.zeros((n_batch * groups, phases, layout.length) if plan.a_shift else (1, 1, 1), np.uint8)
    bias, rq, finished = _requantization(plan, bias, rq, finish)
    out = np.empty((n_batch, plan.x_coef.size) + tuple(out_hw), rq.dtype)
    chunks = _chunks(plan, out.size)
    layout_args = (np.ascontiguousarray(x), plan.x_min, plan.a_shift, plan.pad_bits, begin[0], begin[1], hw[0], hw[1],
                   groups, plan.planes, stride[0], stride[1], layout.ws, layout.used, words, not plan.xnor, sums, nulls)
    if chunks and n_batch * groups > 1:
        activation_planes_parallel(min(chunks, n_batch * groups), *layout_args)
    else:
        activation_planes(0, n_batch * groups, *layout_args)
    _convolve(plan, layout, words, sums, nulls, bias, rq, out, chunks, (begin[0], begin[1]) + x.shape[2:])
    return out if finished else finish(out)


def _convolve(plan: BitserialPlan, layout: _Layout, words, sums, nulls, bias, rq: Requant, out, chunks: int,
              window_key=None) -> None:
    """window_key: (pad top, pad left, H, W) of a convolution's input, with which its geometry fixes the
    null taps."""
    n_batch, groups = out.shape[0], plan.w_rows.shape[0]
    binary = nulls.size > 1
    positions = out.shape[2] * layout.ws
    images = n_batch * groups
    # without Σ b (XNOR-popcount) the windows' null taps are all there is, and they follow from the geometry
    cached = window_key is not None and plan.xnor and binary
    windows = layout.windows.get((images,) + window_key) if cached else None
    if windows is None:
        x_sum = np.empty((images, positions), np.int64)
        border_shape = (images, positions) if binary else (1, 1)
        null_taps, kinds = np.empty(border_shape, np.int64), np.empty(border_shape, np.int64)
        border = np.empty(border_shape + (2,), np.int64)
        counts = np.zeros((images, 2), np.int64)
        window_sums(sums, nulls, layout.tap_phase, layout.tap_shift, positions, not plan.xnor, binary, x_sum,
                    null_taps, border, kinds, counts)
        windows = (x_sum, border, kinds, counts)
        if cached:
            layout.windows[(images,) + window_key] = windows
    x_sum, border, kinds, counts = windows
    args = (words.reshape(n_batch, -1), plan.w_rows, plan.xnor, layout.offsets,
            plan.channel_words * plan.planes * layout.length * 8, layout.length * 8, plan.planes, layout.ws, x_sum,
            border, kinds, counts, plan.plane_coef, plan.x_coef, plan.channel_const, plan.tap_coef, bias,
            rq.multiplier, rq.shift, rq.zero_point, rq.lo, rq.hi, rq.mode, out)
    if chunks:
        qconv2d_bitserial_parallel(chunks, *args)
    else:
        qconv2d_bitserial_kernel(0, conv_tasks(plan.w_rows, out), *args)


def run_bitserial_linear(plan: BitserialPlan, x2: np.ndarray, bias, rq: Requant, finish=_identity) -> np.ndarray:
    """x2: activation storage [M, K] -> finish(output storage [M, N]) (finish: channels last): a 1×1
    convolution of the M rows as positions, laid out from the rows in place (no padding, so no
    null inputs)."""
    if isinstance(plan, PairsPlan):
        bias, rq, finished = _requantization(plan, bias, rq, finish)
        rows = run_pairs_linear(plan, x2, bias, rq)
        return rows if finished else finish(rows)
    m = x2.shape[0]
    layout = _layout(plan, (1, m), (1, 1), (1, 1), 1)
    words = np.empty((1, 1, plan.channel_words * plan.planes, layout.length), np.uint64)
    sums = np.zeros((1, 1, layout.length), np.int64)
    bias, rq, finished = _requantization(plan, bias, rq, finish)
    out = np.empty((1, plan.x_coef.size, 1, m), rq.dtype)
    chunks = _chunks(plan, out.size)
    row_args = (np.ascontiguousarray(x2), plan.x_min, plan.a_shift, plan.planes, words[0, 0], not plan.xnor, sums[0, 0])
    if chunks:
        row_planes_parallel(min(chunks, m), *row_args)
    else:
        row_planes(0, m, *row_args)
    _convolve(plan, layout, words, sums, np.zeros((1, 1, 1), np.uint8), bias, rq, out, chunks)
    rows = np.ascontiguousarray(out[0, :, 0, :].T)  # writing the transposed result directly took longer
    return rows if finished else finish(rows)
