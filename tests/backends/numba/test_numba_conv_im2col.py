"""The int16 im2col convolution kernel (inputs and weights of at most 8 bits with a
proven int32 accumulator) against the reference on odd shapes, and the vpmaddwd it
is written to produce."""
import platform
import zlib

import numpy as np
import pytest

from numba_cases import compare, one_node, qtype, requant_attrs, storage
from qcompiler.backends.numba.kernels.conv_im2col import qconv2d_im2col_kernel, qconv2d_im2col_tiled_kernel
from qcompiler.backends.numba.kernels.dot import dot16
from qcompiler.backends.numba.kernels.tile16 import HAS_AVX512BW, LANES
from qcompiler.backends.numba.weights import tiled_rows16
from qcompiler.ir.registry import infer_types

# name: (x [N,C,H,W], w [Cout,Cin/g,kh,kw], attrs, x storage/zp, w storage/zp)
CASES = {
    "batch3_odd_channels_pad": ((3, 5, 9, 7), (7, 5, 3, 3), {"pad": [1, 2, 0, 1]}, ("u8", 131), ("i8", 0)),
    "stride2_groups3": ((2, 6, 11, 8), (9, 2, 3, 3), {"stride": [2, 2], "pad": [1, 1, 1, 1], "groups": 3},
                        ("u8", 0), ("i8", 0)),
    "pointwise_stride2": ((2, 33, 5, 6), (17, 33, 1, 1), {"stride": [2, 2]}, ("i8", -3), ("u8", 128)),
    "long_k_extreme_values": ((1, 67, 4, 4), (3, 67, 3, 3), {"pad": [1, 1, 1, 1]}, ("u8", 255), ("i8", 0)),
    "depthwise_dilated": ((2, 4, 8, 8), (4, 1, 3, 3), {"groups": 4, "dilation": [2, 1], "pad": [2, 1, 2, 1]},
                          ("u8", 77), ("i4", 0)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_im2col_conv_matches_reference(name):
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    x_shape, w_shape, attrs, (x_storage, x_zp), (w_storage, w_zp) = CASES[name]
    x_t = qtype(x_storage, x_shape, zp=x_zp)
    w_t = qtype(w_storage, w_shape, zp=w_zp, axis=0)
    w = storage(rng, w_t)
    if name == "long_k_extreme_values":  # every product at its largest magnitude: 255·(-128)
        w[:] = -128
    k = int(np.prod(w_shape[1:]))
    typical = int(np.sqrt(k) * 255 * 255 / 12)
    attrs = {**attrs, **requant_attrs(rng, w_shape[0], "half_even", (10 / typical, 60 / typical)),
             "clamp": [0, 255]}
    bias = rng.integers(-typical, typical, w_shape[0]).astype(np.int32)
    operands = [(x_t, None), (w_t, w), (qtype("i32", (w_shape[0],), scale=1e-3), bias)]
    out_t = qtype("u8", infer_types("qconv2d", [t for t, _ in operands], attrs)[0].shape, zp=7)
    node = one_node("qconv2d", operands, attrs, out_t)
    x = storage(rng, x_t)
    if name == "long_k_extreme_values":
        x[:] = 0  # 0 - 255 = -255 everywhere: the largest centred input
    compare(node, [x, w, bias])


def test_kernel_writes_every_output_of_a_grouped_strided_batch():
    """Direct call: a poisoned output must be fully overwritten (no skipped rows or groups)."""
    rng = np.random.default_rng(3)
    xc = rng.integers(-255, 256, (2, 4, 7, 7)).astype(np.int16)
    w = rng.integers(-128, 128, (6, 2 * 2 * 2)).astype(np.int16)
    out = np.full((2, 6, 3, 3), -999, np.int32)
    ones = np.ones(6, np.int64)
    qconv2d_im2col_kernel(xc, w, 2, 2, 2, 2, 2, 1, 1, np.zeros(6, np.int32), ones, np.zeros(6, np.int64), 0,
                          -(2**31), 2**31 - 1, 0, out)
    want = np.zeros_like(out)
    for g in range(2):
        for oc in range(3 * g, 3 * g + 3):
            wk = w[oc].reshape(2, 2, 2).astype(np.int64)
            for oy in range(3):
                for ox in range(3):
                    patch = xc[:, 2 * g:2 * g + 2, 2 * oy:2 * oy + 2, 2 * ox:2 * ox + 2].astype(np.int64)
                    want[:, oc, oy, ox] = (patch * wk).sum(axis=(1, 2, 3))
    np.testing.assert_array_equal(out, want)


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86 instruction check")
def test_dot16_compiles_to_pair_multiply_adds():
    from numba import njit

    @njit
    def call(x, w):
        return dot16(x, w, x.size)

    x = np.arange(-100, 100, dtype=np.int16)
    assert call(x, x[::-1].copy()) == int(np.dot(x.astype(np.int64), x[::-1].astype(np.int64)))
    asm = call.inspect_asm(call.signatures[0])
    assert "vpmaddwd" in asm or "vpdpwssd" in asm


@pytest.mark.skipif(not HAS_AVX512BW, reason="the 4×4 pmaddwd tile needs AVX-512 BW")
def test_tiled_kernel_equals_the_dot_kernel_on_padded_tiles():
    """Output width, channels per group and K all off the tile sizes (4, 4, 32)."""
    rng = np.random.default_rng(5)
    groups, cout, kh, kw = 3, 15, 3, 2
    xc = rng.integers(-255, 256, (2, 9, 8, 11)).astype(np.int16)
    w = rng.integers(-128, 128, (cout, 3 * kh * kw)).astype(np.int16)
    out_shape = (2, cout, 3, 5)
    params = (np.arange(cout, dtype=np.int32) * 7, np.full(cout, 1 << 20, np.int64), np.full(cout, 24, np.int64), 3,
              -(2**31), 2**31 - 1, 0)
    want, got = np.empty(out_shape, np.int32), np.full(out_shape, -999, np.int32)
    qconv2d_im2col_kernel(xc, w, groups, kh, kw, 2, 2, 1, 1, *params, want)
    qconv2d_im2col_tiled_kernel(xc, tiled_rows16(w, groups, LANES), kh, kw, 2, 2, 1, 1, *params, got)
    np.testing.assert_array_equal(got, want)
    assert len(np.unique(want)) > 10
