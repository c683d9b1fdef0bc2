"""The AVX-512 VNNI convolution (u8 × s8 phase-quad tiles, outputs as lanes) against the
reference: odd shapes, paddings, strides, dilation, groups, zero points, u8 and i8
activations; the clean fallback when the host lacks VNNI or the weights leave int8; the
vector requantization against the scalar one; the vpdpbusd it is written to produce."""
import zlib

import numpy as np
import pytest
import numba
from numba import njit

from numba_cases import ROUNDINGS, compare, one_node, qtype, requant_attrs, storage, vnni_runs
from qcompiler.backends.numba.kernels.conv_vnni import qconv2d_vnni_parallel
from qcompiler.backends.numba.kernels.requant_lanes import LANES as REQUANT_LANES, requantize_lanes
from qcompiler.backends.numba.kernels.requant_vector import shift_rounded
from qcompiler.backends.numba.kernels.rounding import ROUNDING_CODES, requantize_one, rounding_shift
from qcompiler.backends.numba.kernels.vnni_tile import (HAS_AVX512_VNNI, LANES, ROWS, VECTORS, WIDTH,
                                                       tile_u8_vectors)
from qcompiler.backends.numba.ops import INTEGER_STEPS, conv_vnni
from qcompiler.ir.registry import infer_types
from qcompiler.runtime.reference import run_node

# name: (op, x shape, w shape, attrs, x storage/zp, w storage/zp)
CASES = {
    "odd_u8_asymmetric_pad": ("qconv2d", (2, 5, 9, 7), (7, 5, 3, 3), {"pad": [1, 2, 0, 1]}, ("u8", 131), ("i8", 0)),
    "i8_stride2_groups3": ("qconv2d", (2, 6, 11, 8), (9, 2, 3, 3),
                           {"stride": [2, 2], "pad": [1, 1, 1, 1], "groups": 3}, ("i8", -3), ("i8", 0)),
    "pointwise_stride2_u8_weights": ("qconv2d", (1, 33, 5, 6), (17, 33, 1, 1), {"stride": [2, 2]}, ("i8", 5),
                                     ("u8", 128)),
    "depthwise_dilated": ("qconv2d", (2, 4, 8, 8), (4, 1, 3, 3),
                          {"groups": 4, "dilation": [2, 1], "pad": [2, 1, 2, 1]}, ("u8", 77), ("i4", 0)),
    "reflect_stride_3x2_wide": ("qconv2d", (1, 9, 10, 70), (6, 9, 3, 2),
                                {"stride": [3, 2], "pad": [1, 1, 1, 1], "pad_mode": "reflect"}, ("u8", 0),
                                ("i8", 0)),
    "stride2_dilation3": ("qconv2d", (2, 8, 17, 19), (5, 8, 3, 3),
                          {"stride": [2, 2], "dilation": [3, 3], "pad": [2, 3, 2, 1]}, ("u8", 140), ("i8", 0)),
    "empty_batch": ("qconv2d", (0, 4, 6, 6), (4, 4, 3, 3), {"pad": [1, 1, 1, 1]}, ("u8", 128), ("i8", 0)),
    "raw_sum_wraps_int32": ("qconv2d", (1, 8000, 3, 3), (4, 8000, 3, 3), {}, ("u8", 128), ("i8", 0)),
    "extreme_products": ("qconv2d", (1, 67, 4, 4), (5, 67, 3, 3), {"pad": [1, 1, 1, 1]}, ("u8", 255), ("i8", 0)),
    "conv1d_replicate": ("qconv1d", (3, 6, 13), (5, 6, 4), {"pad": [2, 1], "pad_mode": "replicate"}, ("u8", 9),
                         ("i8", 0)),
}


def _node_and_args(name, rounding):
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    op, x_shape, w_shape, attrs, (x_storage, x_zp), (w_storage, w_zp) = CASES[name]
    x_t, w_t = qtype(x_storage, x_shape, zp=x_zp), qtype(w_storage, w_shape, zp=w_zp, axis=0)
    w, x = storage(rng, w_t), storage(rng, x_t)
    if name == "extreme_products":  # every centred product at its largest magnitude: (0 - 255)·(-128)
        w[:], x[:] = -128, 0
    if name == "raw_sum_wraps_int32":  # Σ u·w = 255·(-128)·72000 leaves int32; the centred 127·(-128)·72000 does not
        w[:], x[:] = -128, 255
    k = int(np.prod(w_shape[1:]))
    typical = int(np.sqrt(k) * 255 * 255 / 12)
    attrs = {**attrs, **requant_attrs(rng, w_shape[0], rounding, (10 / typical, 60 / typical)), "clamp": [0, 255]}
    bias = rng.integers(-typical, typical, w_shape[0]).astype(np.int32)
    operands = [(x_t, None), (w_t, w), (qtype("i32", (w_shape[0],), scale=1e-3), bias)]
    out_t = qtype("u8", infer_types(op, [t for t, _ in operands], attrs)[0].shape, zp=7)
    return one_node(op, operands, attrs, out_t), [x, w, bias]


@pytest.fixture
def vnni_calls(monkeypatch):
    return vnni_runs(monkeypatch, "run_vnni_conv")


@pytest.mark.parametrize("name", sorted(CASES))
def test_vnni_conv_matches_reference(name, vnni_calls):
    node, args = _node_and_args(name, ROUNDINGS[zlib.crc32(name.encode()) % 3])
    want = compare(node, args)[0]
    if node.inputs[0].type.storage == "u8":  # u8 storage is laid out as given, without widening
        np.testing.assert_array_equal(INTEGER_STEPS[node.op](node)([args[0].astype(np.uint8)] + args[1:])[0], want)
    assert len(vnni_calls) == (1 + (node.inputs[0].type.storage == "u8") if HAS_AVX512_VNNI else 0)


@pytest.mark.skipif(not HAS_AVX512_VNNI or numba.get_num_threads() < 2, reason="needs VNNI and two Numba threads")
def test_parallel_chunks_equal_the_reference(monkeypatch):
    """A layer in parallel chunks: 4 per thread, more than its 2 images × 3 groups × 1 block of
    output channels = 6 tasks, so some chunks are empty."""
    monkeypatch.setattr(conv_vnni, "PARALLEL_MIN_MACS", 0)
    launches = []

    def counted(*args):
        launches.append(args[0])
        return qconv2d_vnni_parallel(*args)

    monkeypatch.setattr(conv_vnni, "qconv2d_vnni_parallel", counted)
    node, args = _node_and_args("i8_stride2_groups3", "half_even")
    args[0] = args[0].astype(np.int8)
    want = run_node(node, args)[0]
    np.testing.assert_array_equal(INTEGER_STEPS[node.op](node)(args)[0], want)
    assert launches == [4 * numba.get_num_threads()]


@pytest.mark.parametrize("name", ["i8_stride2_groups3", "conv1d_replicate"])
def test_host_without_vnni_falls_back_to_the_int16_kernels(name, vnni_calls, monkeypatch):
    monkeypatch.setattr(conv_vnni, "HAS_AVX512_VNNI", False)
    node, args = _node_and_args(name, "half_even")
    compare(node, args)
    assert not vnni_calls


def test_weights_outside_int8_after_centring_fall_back(vnni_calls):
    """u8 weights with zero point 10 centre to [-10, 245]: not s8, so the int16 kernel runs."""
    rng = np.random.default_rng(5)
    x_t, w_t = qtype("u8", (1, 8, 6, 6), zp=100), qtype("u8", (4, 8, 3, 3), zp=10, axis=0)
    attrs = {**requant_attrs(rng, 4, "half_up", (1e-5, 1e-4)), "pad": [1, 1, 1, 1], "clamp": [0, 255]}
    out_t = qtype("u8", (1, 4, 6, 6), zp=0)
    w = storage(rng, w_t)
    w[0, 0, 0, 0] = 255
    node = one_node("qconv2d", [(x_t, None), (w_t, w)], attrs, out_t)
    compare(node, [storage(rng, x_t), w])
    assert not vnni_calls


@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_branch_free_rounding_shift_equals_the_scalar_one_on_all_int64(rounding):
    @njit
    def rounded(x, s, mode):
        return shift_rounded(x, s, mode)

    rng = np.random.default_rng(7)
    mode = ROUNDING_CODES[rounding]
    edges = [-(2**63), 2**63 - 1, -(2**62) - 1, 2**62, -1, 0, 1]
    for s in range(64):
        ties = [(k << s) + (1 << s >> 1) for k in (-3, -2, -1, 0, 1, 2)] if s < 60 else []
        for x in edges + ties + list(rng.integers(-(2**63), 2**63 - 1, 20, dtype=np.int64)):
            assert rounded(np.int64(x), s, mode) == rounding_shift(np.int64(x), s, mode), (x, s)


@njit
def _requantize_in_lanes(raw, correction, bias, multiplier, shift, lo, hi, mode, out):
    for i0 in range(0, out.size, REQUANT_LANES):
        requantize_lanes(raw, i0, correction, bias, multiplier, shift, 3, lo, hi, mode, out, i0,
                         min(REQUANT_LANES, out.size - i0), 0, 0)


@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_lane_requantization_equals_the_scalar_one_in_every_container(rounding):
    rng = np.random.default_rng(len(rounding))
    mode = ROUNDING_CODES[rounding]
    raw = rng.integers(-(2**31), 2**31, 301 + REQUANT_LANES).astype(np.int32)  # lanes past 301 are read, not kept
    raw[:100] = rng.integers(-4, 5, 100) << rng.integers(0, 28, 100)  # ties at many shifts
    containers = ((np.uint8, 0, 255), (np.int8, -128, 127), (np.int16, -300, 3000), (np.int32, -2**31, 2**31 - 1))
    for dtype, lo, hi in containers:
        for shift in (0, 1, 2, 7, 31, 40, 62, 63):
            for multiplier, correction, bias in ((2**30, 12345, -7), (2**31 - 1, -(2**31), -(2**20)), (1, 0, 0)):
                out = np.full(301 + 5, 99, dtype)  # the 5 past the stored 301 stay as they are
                _requantize_in_lanes(raw, np.int32(correction), np.int32(bias), multiplier, shift, lo, hi, mode,
                                     out[:301])
                want = [requantize_one(np.int64(np.int32(np.int64(r) - correction)) + bias, multiplier, shift, 3, lo,
                                       hi, mode) for r in raw[:301]]
                np.testing.assert_array_equal(out[:301], want, err_msg=f"{dtype}, shift {shift}, m {multiplier}")
                assert (out[301:] == 99).all()


@njit
def _requantize_row_pairs(raw, pitch, out):
    rows, kept = out.shape
    flat = out.reshape(-1)
    for y in range(0, rows, 2):
        requantize_lanes(raw, y * pitch, 5, -9, 2**30, 33, 3, -128, 127, 1, flat, y * kept, kept, pitch - kept,
                         kept if y + 1 < rows else 0)


def test_two_narrow_rows_per_vector_keep_their_columns_only():
    raw = np.random.default_rng(5).integers(-(2**31), 2**31, 5 * 9 + REQUANT_LANES).astype(np.int32)
    out = np.full((6, 7), 99, np.int8)  # 5 rows of a pitch-9 plane kept 7 wide; the 6th untouched
    _requantize_row_pairs(raw, 9, out[:5])
    want = [[requantize_one(np.int64(np.int32(np.int64(raw[9 * y + x]) - 5)) - 9, 2**30, 33, 3, -128, 127, 1)
             for x in range(7)] for y in range(5)]
    np.testing.assert_array_equal(out[:5], want)
    assert (out[5] == 99).all()


@pytest.mark.skipif(not HAS_AVX512_VNNI, reason="the host has no AVX-512 VNNI: the tile is never compiled")
def test_tile_sums_u8_by_s8_in_vpdpbusd():
    @njit
    def call(rows, vectors, offsets, out):
        tile_u8_vectors(rows, vectors, 8, offsets, 256, offsets.size, out, 64)

    rng = np.random.default_rng(11)
    steps = 5
    rows = rng.integers(-128, 128, (ROWS, 4 * steps)).astype(np.int8)
    vectors = rng.integers(0, 256, 8 + 40 * 4 + 256 * (VECTORS - 1) + 64).astype(np.uint8)
    vectors[:64] = 255
    rows[0] = -128  # the largest products: 255·(-128)
    offsets = np.arange(steps, dtype=np.int64) * 40
    out = np.full((ROWS, 64 + WIDTH), -1, np.int32)
    call(rows, vectors, offsets, out)
    want = np.zeros((ROWS, WIDTH), np.int64)
    for t in range(steps):
        for j in range(VECTORS):
            start = 8 + offsets[t] + 256 * j
            quads = vectors[start:start + 64].reshape(LANES, 4).astype(np.int64)
            want[:, j * LANES:(j + 1) * LANES] += rows[:, 4 * t:4 * t + 4].astype(np.int64) @ quads.T
    np.testing.assert_array_equal(out[:, 64:], want)
    assert (out[:, :64] == -1).all()
    asm = "\n".join(call.inspect_asm().values())
    assert asm.count("vpdpbusd") >= ROWS * VECTORS
    assert "vpbroadcastd" in asm  # four row bytes to every lane, once per row and step
