"""Bit-serial products with 1- and 2-bit activations: binary ±1 activations (sign bits; W1A1 by
XNOR-popcount) at the kernel level, since the IR's integer convolutions take 2..32-bit activation storage;
W1A2 and W2A2 through the prepared nodes. Integer for integer against numpy / the reference,
with zero and reflect padding, strides, dilations, groups and zero points."""
import numpy as np
import pytest

from numba_cases import qtype, storage
from qcompiler.backends.numba.ops.binary_results import BinaryFinish
from qcompiler.backends.numba.ops.bitserial import bitserial_plan, run_bitserial_conv, run_bitserial_linear
from qcompiler.backends.numba.ops.common import Requant
from qcompiler.backends.numba.kernels.rounding import ROUNDING_CODES
from qcompiler.backends.numba.weights import pack_weight_rows
from qcompiler.numerics.fixed_point import quantize_multiplier, requantize

import test_bitserial as named


def _requant(rng, channels):
    mult, shift = quantize_multiplier(np.exp(rng.uniform(np.log(0.02), np.log(0.2), channels)))
    return Requant((np.asarray(mult, np.int64),), np.asarray(shift, np.int64), ROUNDING_CODES["half_even"], 128, 0,
                   255, np.dtype(np.int32))


def _binary_case(rng, w_storage, x_shape, w_shape, groups):
    x = storage(rng, qtype("b1", x_shape))
    zp_w = rng.integers(0, 4, w_shape[0]) if w_storage == "u2" else np.zeros(w_shape[0], np.int64)
    w_t = qtype(w_storage, w_shape, zp=zp_w, axis=0)
    w = storage(rng, w_t)
    weights = pack_weight_rows(w.reshape(w_shape[0], -1), w_t, zp_w, "test")
    bias = rng.integers(-20, 21, w_shape[0]).astype(np.int32)
    return x, w - zp_w.reshape((-1,) + (1,) * (w.ndim - 1)), weights, w_t, bias


def _numpy_conv(xc, wc, stride, dilation, groups):
    """Σ xc·wc over windows of the padded input, int64."""
    n, _, hp, wp = xc.shape
    cout, cin_g, kh, kw = wc.shape
    oh, ow = (hp - (kh - 1) * dilation - 1) // stride + 1, (wp - (kw - 1) * dilation - 1) // stride + 1
    acc = np.zeros((n, cout, oh, ow), np.int64)
    for ky in range(kh):
        for kx in range(kw):
            y0, x0 = ky * dilation, kx * dilation
            window = xc[:, :, y0:y0 + stride * (oh - 1) + 1:stride, x0:x0 + stride * (ow - 1) + 1:stride]
            for g in range(groups):
                part = window[:, g * cin_g:(g + 1) * cin_g].astype(np.int64)
                acc[:, g * (cout // groups):(g + 1) * (cout // groups)] += np.einsum(
                    "nchw,oc->nohw", part, wc[g * (cout // groups):(g + 1) * (cout // groups), :, ky, kx])
    return acc


@pytest.mark.parametrize("w_storage, x_shape, w_shape, groups, stride, dilation, pad, pad_mode", [
    ("b1", (2, 70, 9, 8), (6, 70, 3, 3), 1, 1, 1, 1, "constant"),   # W1A1, two channel words, zero padding
    ("b1", (1, 64, 11, 10), (5, 64, 3, 3), 1, 2, 1, 2, "constant"),  # stride 2: phase planes, wide padding
    ("i2", (1, 6, 9, 9), (4, 3, 3, 3), 2, 1, 2, 2, "constant"),     # W2A1, groups, dilation
    ("u2", (1, 8, 7, 6), (3, 8, 3, 3), 1, 2, 1, 1, "reflect"),      # zero points, real values in the padding
])
def test_binary_activation_convolutions_equal_numpy(w_storage, x_shape, w_shape, groups, stride, dilation, pad,
                                                     pad_mode):
    rng = np.random.default_rng(w_shape[0] * 7 + pad)
    x, wc, weights, w_t, bias = _binary_case(rng, w_storage, x_shape, w_shape, groups)
    plan = bitserial_plan(w_t, weights, qtype("b1", x_shape), groups, w_shape[2:])
    assert plan.planes == 1 and plan.a_shift == 1 and plan.xnor == (w_storage == "b1")  # W1A1: XNOR-popcount
    xc = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)], mode=pad_mode)
    acc = _numpy_conv(xc, wc, stride, dilation, groups) + bias[:, None, None]
    rq = _requant(rng, w_shape[0])
    out = run_bitserial_conv(plan, x, "zeros" if pad_mode == "constant" else pad_mode, (pad, pad), (pad, pad),
                             (stride, stride), (dilation, dilation), acc.shape[2:], bias, rq)
    want = requantize(acc, rq.multiplier[:, None, None], rq.shift[:, None, None], 128, 0, 255, "half_even")
    np.testing.assert_array_equal(out, want)
    assert np.mean((want > 0) & (want < 255)) > 0.5  # most outputs inside the clamp: the test sees the sums


@pytest.mark.parametrize("w_storage", ["b1", "i2"])
def test_binary_activation_linear_equals_numpy(w_storage):
    rng = np.random.default_rng(5)
    x, wc, weights, w_t, bias = _binary_case(rng, w_storage, (13, 300), (9, 300), 1)
    plan = bitserial_plan(w_t, weights, qtype("b1", (13, 300)), 1)
    assert plan.xnor == (w_storage == "b1")
    rq = _requant(rng, 9)
    acc = x.astype(np.int64) @ wc.T.astype(np.int64) + bias
    want = requantize(acc, rq.multiplier, rq.shift, 128, 0, 255, "half_even")
    np.testing.assert_array_equal(run_bitserial_linear(plan, x, bias, rq), want)


@pytest.mark.parametrize("zp, pad_mode", [(-1, "constant"), (1, "constant"), (-1, "reflect")])
def test_binary_activations_with_a_zero_point_take_the_and_popcount_path(zp, pad_mode):
    """b1 at zero point -1 (levels 0 and 2s: a ReLU output in one bit) or +1: x - zp is 2b or
    2b - 2, no XNOR; zero padding is real 0 (storage zp: bit 0 at zp -1, a null tap at +1)."""
    rng = np.random.default_rng(zp + 3)
    x, wc, weights, w_t, bias = _binary_case(rng, "b1", (2, 66, 7, 6), (5, 66, 3, 3), 1)
    plan = bitserial_plan(w_t, weights, qtype("b1", x.shape, zp=zp), 1, (3, 3))
    assert plan is not None and not plan.xnor
    xc = np.pad(x - zp, [(0, 0), (0, 0), (1, 1), (1, 1)], mode=pad_mode)
    acc = _numpy_conv(xc, wc, 1, 1, 1) + bias[:, None, None]
    rq = _requant(rng, 5)
    out = run_bitserial_conv(plan, x, "zeros" if pad_mode == "constant" else pad_mode, (1, 1), (1, 1), (1, 1),
                             (1, 1), acc.shape[2:], bias, rq)
    np.testing.assert_array_equal(out, requantize(acc, rq.multiplier[:, None, None], rq.shift[:, None, None], 128,
                                                  0, 255, "half_even"))


def _unit_requant(channels):
    """The requantization a b1 result runs with (ops/binary_results.py): the accumulator itself."""
    return Requant((np.full(channels, 2**30, np.int64),), np.full(channels, 30, np.int64), ROUNDING_CODES["half_even"],
                   0, -2**31, 2**31 - 1, np.dtype(np.int32))


@pytest.mark.parametrize("x_storage, x_shape, w_shape, stride, pad", [
    ("b1", (2, 67, 7, 9), (5, 67, 3, 3), 1, 1),  # W1A1, odd channel counts across two channel words, padding
    ("b1", (1, 9, 8, 7), (7, 9, 3, 3), 2, 2),    # W1A1, stride 2, wide zero padding (null taps)
    ("u2", (1, 13, 6, 6), (3, 13, 3, 3), 1, 1),  # W1A2: the AND path with Σ b, zero point padding
])
def test_binary_results_are_thresholded_in_the_kernel(x_storage, x_shape, w_shape, stride, pad):
    """A b1 result (BinaryFinish) is the accumulator's per-channel threshold written as ±1 (clamped)
    in int8 by the kernel itself (as a requantization), equal to numpy's compare of the exact sums,
    conv and linear, also for thresholds at the ends of int64 (every output lo, or hi)."""
    rng = np.random.default_rng(x_shape[1])
    x, wc, weights, w_t, bias = _binary_case(rng, "b1", x_shape, w_shape, 1)
    zp = 0 if x_storage == "b1" else 2
    if x_storage == "u2":
        x = rng.integers(0, 4, x_shape).astype(np.uint8)
    plan = bitserial_plan(w_t, weights, qtype(x_storage, x_shape, zp=zp), 1, w_shape[2:])
    xc = np.pad(x.astype(np.int64) - zp, [(0, 0), (0, 0), (pad, pad), (pad, pad)])
    acc = _numpy_conv(xc, wc, stride, 1, 1) + bias[:, None, None]
    thresholds = np.sort(acc, axis=None)[np.linspace(0, acc.size - 1, w_shape[0]).astype(int)]  # both sides met
    finish = BinaryFinish(thresholds.astype(np.int64), -1, 1, 1)
    out = run_bitserial_conv(plan, x, "zeros", (pad, pad), (pad, pad), (stride, stride), (1, 1), acc.shape[2:], bias,
                             _unit_requant(w_shape[0]), finish)
    assert out.dtype == np.int8
    np.testing.assert_array_equal(out, np.where(acc >= thresholds[:, None, None], 1, -1))
    assert 0.1 < np.mean(out == 1) < 0.9
    ends = np.where(np.arange(w_shape[0]) % 2, np.iinfo(np.int64).max, np.iinfo(np.int64).min)
    out = run_bitserial_conv(plan, x, "zeros", (pad, pad), (pad, pad), (stride, stride), (1, 1), acc.shape[2:], bias,
                             _unit_requant(w_shape[0]), BinaryFinish(ends, -1, 1, 1))
    np.testing.assert_array_equal(out, np.broadcast_to(np.where(ends > 0, -1, 1)[:, None, None], out.shape[1:])[None]
                                  .repeat(out.shape[0], 0))
    rows = x.transpose(0, 2, 3, 1).reshape(-1, x_shape[1])  # the linear: positions as rows, 1×1 weights
    w_t1 = qtype("b1", (w_shape[0], x_shape[1]), zp=np.zeros(w_shape[0], np.int64), axis=0)
    w1 = wc[:, :, 1, 1]
    weights1 = pack_weight_rows(w1, w_t1, np.zeros(w_shape[0], np.int64), "test")
    plan1 = bitserial_plan(w_t1, weights1, qtype(x_storage, rows.shape, zp=zp), 1)
    acc1 = (rows.astype(np.int64) - zp) @ w1.T.astype(np.int64) + bias
    linear = run_bitserial_linear(plan1, rows, bias, _unit_requant(w_shape[0]), BinaryFinish(thresholds, 0, 1, -1))
    np.testing.assert_array_equal(linear, np.where(acc1 >= thresholds, 1, 0))  # clamped to [0, 1]


def test_w1a1_windows_kept_per_geometry_follow_the_padding_split():
    """W1A1 keeps its windows' null taps per input geometry: the same padded size split (1, 1) or (2, 0),
    or from a smaller input, and a second call reusing them, each equal numpy."""
    rng = np.random.default_rng(11)
    x, wc, weights, w_t, bias = _binary_case(rng, "b1", (2, 64, 6, 7), (5, 64, 3, 3), 1)
    plan = bitserial_plan(w_t, weights, qtype("b1", x.shape), 1, (3, 3))
    rq = _requant(rng, 5)
    for image, begin, end in [(x, (1, 1), (1, 1)), (x, (2, 2), (0, 0)), (x, (1, 1), (1, 1)),
                              (x[:, :, :5, :6], (2, 2), (1, 1))]:
        xc = np.pad(image, [(0, 0), (0, 0), (begin[0], end[0]), (begin[1], end[1])])
        acc = _numpy_conv(xc, wc, 1, 1, 1) + bias[:, None, None]
        out = run_bitserial_conv(plan, image, "zeros", begin, end, (1, 1), (1, 1), acc.shape[2:], bias, rq)
        want = requantize(acc, rq.multiplier[:, None, None], rq.shift[:, None, None], 128, 0, 255, "half_even")
        np.testing.assert_array_equal(out, want)
    assert len(plan.layouts) == 1 and len(next(iter(plan.layouts.values())).windows) == 3


@pytest.mark.parametrize("case", ["w1a2_stride2", "w2a2_two_words", "w2a2_u2_zero_points", "w1a2_linear",
                                  "w2a2_linear"])
def test_two_bit_activation_products_equal_the_reference(case):
    rng = np.random.default_rng(len(case))
    op, x_shape, w_shape, attrs, act, w_storage = {
        "w1a2_stride2": ("qconv2d", (1, 64, 9, 10), (6, 64, 3, 3), {"stride": [2, 2], "pad": [1, 1, 1, 1]},
                         ("u2", 1), "b1"),
        "w2a2_two_words": ("qconv2d", (2, 70, 6, 5), (5, 70, 3, 3), {"pad": [1, 2, 1, 0]}, ("i2", -1), "i2"),
        "w2a2_u2_zero_points": ("qconv2d", (1, 12, 7, 7), (6, 4, 3, 3), {"groups": 3, "dilation": [2, 2],
                                                                          "pad": [2, 2, 2, 2]}, ("u2", 3), "u2"),
        "w1a2_linear": ("qlinear", (10, 260), (7, 260), {}, ("u2", 2), "b1"),
        "w2a2_linear": ("qlinear", (2, 5, 130), (9, 130), {}, ("i2", 0), "u2"),
    }[case]
    named._check(op, rng, qtype(act[0], x_shape, zp=act[1]), named._weights(rng, w_storage, w_shape, True), attrs,
                 True)
