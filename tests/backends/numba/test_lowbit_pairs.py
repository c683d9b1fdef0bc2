"""The paired-position W2A2 kernel (ops/lowbit_pairs.py): its activation words hold what they
document, its chunks keep every partial sum inside the field, and its convolutions and linears
equal numpy integer for integer (odd channel counts, zero and reflect padding, stride 2,
dilation, groups, zero points, b1 results, operands at their extremes over a K long enough to
need several chunks), as do the popcount tile's on the same cases."""
import numpy as np
import pytest

from numba_cases import qtype, storage
from qcompiler.backends.numba.kernels.lowbit_pairs import chunk_bounds, field_bits, pair_words
from qcompiler.backends.numba.kernels.vnni_tile import HAS_AVX512_VNNI
from qcompiler.backends.numba.ops import bitserial as bitserial_ops
from qcompiler.backends.numba.ops.binary_results import BinaryFinish
from qcompiler.backends.numba.ops.bitserial import bitserial_plan, run_bitserial_conv, run_bitserial_linear
from qcompiler.backends.numba.ops.common import Requant
from qcompiler.backends.numba.ops.lowbit_pairs import PAIRED_WEIGHT_BYTES, PairsPlan
from qcompiler.backends.numba.kernels.rounding import ROUNDING_CODES
from qcompiler.backends.numba.weights import pack_weight_rows
from qcompiler.numerics.fixed_point import quantize_multiplier, requantize

from test_bitserial_lowbit_acts import _numpy_conv


@pytest.fixture(params=["pairs", "popcount"])
def kernel_path(request, monkeypatch):
    if request.param == "popcount":
        monkeypatch.setattr(bitserial_ops, "pairs_plan", lambda *args: None)
    return request.param


def _requant(rng, channels, typical):
    mult, shift = quantize_multiplier(np.exp(rng.uniform(np.log(20 / typical), np.log(60 / typical), channels)))
    return Requant((np.asarray(mult, np.int64),), np.asarray(shift, np.int64), ROUNDING_CODES["half_even"], 128, 0,
                   255, np.dtype(np.uint8))


def _plan(rng, x_t, w_storage, w_shape, groups, kernel_path, w=None):
    zp_w = rng.integers(0, 4, w_shape[0]) if w_storage == "u2" else np.zeros(w_shape[0], np.int64)
    w_t = qtype(w_storage, w_shape, zp=zp_w, axis=0)
    w = storage(rng, w_t) if w is None else w
    weights = pack_weight_rows(w.reshape(w_shape[0], -1), w_t, zp_w, "test")
    plan = bitserial_plan(w_t, weights, x_t, groups, w_shape[2:] or (1, 1))
    assert isinstance(plan, PairsPlan) == (kernel_path == "pairs" and HAS_AVX512_VNNI)
    return plan, w - zp_w.reshape((-1,) + (1,) * (w.ndim - 1))


@pytest.mark.parametrize("x_storage, zp, x_shape, w_storage, w_shape, groups, stride, dilation, pad, pad_mode", [
    ("u2", 1, (2, 67, 7, 9), "i2", (5, 67, 3, 3), 1, 1, 1, 1, "zeros"),      # odd channels, two chunks of words
    ("u2", 0, (1, 13, 11, 10), "u2", (7, 13, 3, 3), 1, 2, 1, 2, "zeros"),    # stride 2, wide padding, zp_w
    ("i2", -1, (1, 6, 9, 9), "i2", (4, 3, 3, 3), 2, 1, 2, 2, "zeros"),       # groups, dilation, signed acts
    ("u2", 3, (1, 9, 7, 6), "i2", (3, 9, 3, 3), 1, 2, 1, 1, "reflect"),      # real values in the padding
])
def test_w2a2_convolutions_equal_numpy(x_storage, zp, x_shape, w_storage, w_shape, groups, stride, dilation, pad,
                                       pad_mode, kernel_path):
    rng = np.random.default_rng(x_shape[1] + stride)
    x_t = qtype(x_storage, x_shape, zp=zp)
    x = storage(rng, x_t).astype(np.uint8 if x_storage == "u2" else np.int8)
    plan, wc = _plan(rng, x_t, w_storage, w_shape, groups, kernel_path)
    xc = np.pad(x.astype(np.int64) - zp, [(0, 0), (0, 0), (pad, pad), (pad, pad)],
                mode="constant" if pad_mode == "zeros" else pad_mode)
    acc = _numpy_conv(xc, wc, stride, dilation, groups)
    bias = rng.integers(-20, 21, w_shape[0]).astype(np.int32)
    rq = _requant(rng, w_shape[0], np.abs(acc).mean() + 1)
    out = run_bitserial_conv(plan, x, pad_mode, (pad, pad), (pad, pad), (stride, stride), (dilation, dilation),
                             acc.shape[2:], bias, rq)
    want = requantize(acc + bias[:, None, None], rq.multiplier[:, None, None], rq.shift[:, None, None], 128, 0, 255,
                      "half_even")
    np.testing.assert_array_equal(out, want)
    assert np.mean((want > 0) & (want < 255)) > 0.5


@pytest.mark.parametrize("x_storage, zp, w_value", [("u2", 0, -2), ("u2", 3, -2), ("i2", -2, 1), ("u2", 0, 1)])
def test_extreme_operands_over_a_long_k_split_into_chunks_and_stay_exact(x_storage, zp, w_value, kernel_path):
    """Every activation at the end farthest from its zero point and every weight at one end: each
    product at its bound, over K = 3001, so the paired kernel needs several chunks; a b1 result
    thresholds the exact sums too."""
    rng = np.random.default_rng(7)
    m, k, n = 33, 3001, 9
    x_t = qtype(x_storage, (m, k), zp=zp)
    lo, hi = (0, 3) if x_storage == "u2" else (-2, 1)
    far = lo if abs(lo - zp) > abs(hi - zp) else hi
    x = np.full((m, k), far, np.int64)
    x[1::2, ::3] = lo + hi - far  # some rows less extreme: outputs that differ
    x = x.astype(np.uint8 if x_storage == "u2" else np.int8)
    plan, wc = _plan(rng, x_t, "i2", (n, k), 1, kernel_path, np.full((n, k), w_value, np.int32))
    if isinstance(plan, PairsPlan):
        assert plan.bounds.size > 2
    acc = (x.astype(np.int64) - zp) @ wc.T.astype(np.int64)
    bias = np.arange(n, dtype=np.int32) - 4
    rq = _requant(rng, n, np.abs(acc).max() / 40 + 1)
    want = requantize(acc + bias, rq.multiplier, rq.shift, 128, 0, 255, "half_even")
    np.testing.assert_array_equal(run_bitserial_linear(plan, x, bias, rq), want)
    thresholds = np.median(acc + bias, axis=0).astype(np.int64)
    unit = Requant((np.full(n, 2**30, np.int64),), np.full(n, 30, np.int64), ROUNDING_CODES["half_even"], 0, -2**31,
                   2**31 - 1, np.dtype(np.int32))
    got = run_bitserial_linear(plan, x, bias, unit, BinaryFinish(thresholds, -1, 1, -1))
    np.testing.assert_array_equal(got, np.where(acc + bias >= thresholds, 1, -1))


def test_chunks_keep_every_rows_partial_sums_inside_the_field_and_end_only_when_they_must():
    rng = np.random.default_rng(3)
    w_steps = rng.integers(-2, 2, (6, 500, 2))
    k = field_bits(-3, 0)
    assert k == 13
    bounds = chunk_bounds(w_steps, 3, k)
    assert bounds[0] == 0 and bounds[-1] == 500 and np.all(np.diff(bounds) > 0)
    per_step = 3 * np.abs(w_steps).sum(axis=2)
    limit = 2 ** (k - 1) - 1
    for a, b in zip(bounds[:-1], bounds[1:]):
        assert per_step[:, a:b].sum(axis=1).max() <= limit
        if b < 500:
            assert per_step[:, a:b + 1].sum(axis=1).max() > limit
    with pytest.raises(ValueError, match="13-bit field"):
        chunk_bounds(np.full((1, 2, 2), 3000), 3, k)


@pytest.mark.parametrize("stride", [1, 2])
def test_pair_words_hold_two_channels_of_two_positions_sixteen_apart(stride):
    rng = np.random.default_rng(stride)
    n, channels, h, w, pad, zp, k = 2, 5, 6, 7, 1, 2, 13
    x = rng.integers(0, 4, (n, channels, h, w)).astype(np.uint8)
    hp, wp = h + 2 * pad, w + 2 * pad
    ws = -(-wp // stride)
    length = -(-hp // stride) * ws + 20
    pairs = -(-channels // 2)
    out = np.zeros((n, stride * stride, pairs, length), np.int32)
    pair_words(0, n * pairs, x, zp, pad, pad, hp, wp, 1, stride, stride, ws, np.ones(stride * stride, np.uint8), k,
               out)
    centred = np.zeros((n, 2 * pairs, hp, wp), np.int64)
    centred[:, :channels, pad:pad + h, pad:pad + w] = x.astype(np.int64) - zp
    plane = np.zeros((n, stride * stride, 2 * pairs, length + 16), np.int64)
    for y in range(hp):
        for x_ in range(wp):
            plane[:, (y % stride) * stride + x_ % stride, :, (y // stride) * ws + x_ // stride] = centred[:, :, y, x_]
    halves = out.view(np.int16).reshape(n, stride * stride, pairs, length, 2).transpose(0, 1, 2, 4, 3)
    want = plane[..., :length] + (plane[..., 16:] << k)
    np.testing.assert_array_equal(halves.reshape(want.shape), want)


def test_weights_past_the_paired_budget_stay_on_the_popcount_tile():
    """16 bits per paired weight: a product whose paired words pass PAIRED_WEIGHT_BYTES keeps the
    popcount tile's 2-bit planes (they would stream from memory on every call)."""
    rng = np.random.default_rng(1)
    assert 64 * 512 * 4 <= PAIRED_WEIGHT_BYTES < 1024 * 512 * 4
    for n, paired in [(64, True), (1024, False)]:
        w_t = qtype("i2", (n, 1024), zp=np.zeros(n, np.int64), axis=0)
        weights = pack_weight_rows(storage(rng, w_t), w_t, np.zeros(n, np.int64), "test")
        plan = bitserial_plan(w_t, weights, qtype("u2", (8, 1024), zp=1), 1)
        assert isinstance(plan, PairsPlan) == (paired and HAS_AVX512_VNNI)
