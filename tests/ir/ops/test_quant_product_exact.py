"""The integer products' reference takes the float64 (BLAS) route only where it is exact."""
import numpy as np

from qcompiler.ir.ops.quant_conv import _integer_product
from qcompiler.ir.registry import run_reference


def _int64_linear(x, w, b):
    return np.einsum("...k,nk->...n", x, w) + b


def test_int8_operands_equal_the_int64_product():
    rng = np.random.default_rng(0)
    x = rng.integers(-255, 256, (3, 5, 384), dtype=np.int64)
    w = rng.integers(-128, 128, (96, 384), dtype=np.int64)
    b = rng.integers(-2**31, 2**31, 96, dtype=np.int64)
    got = _integer_product("linear", [x, w, b], {})
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, _int64_linear(x, w, b))


def test_sums_beyond_float64_precision_stay_int64():
    # 2**30 * 2**30 * 4 terms: float64 would round the odd sums
    x = np.array([[2**30 + 1, 2**30 + 3, 2**30 - 1, 7]], np.int64)
    w = np.array([[2**30 + 5, 2**30 - 3, 11, 2**30 + 1]], np.int64)
    got = _integer_product("linear", [x, w], {})
    exact = sum(int(a) * int(c) for a, c in zip(x[0], w[0]))
    assert int(x[0].astype(np.float64) @ w[0].astype(np.float64)) != exact  # the premise: float64 rounds here
    assert int(got[0, 0]) == exact


def test_float32_route_below_2_24_and_float64_above(monkeypatch):
    """Sums bounded by 2**24 run in float32 and stay exact; two terms more and float32
    would round the (odd) sum, so the float64 route takes them."""
    from qcompiler.ir.ops import quant_conv

    seen = []
    reference = quant_conv.run_reference
    monkeypatch.setattr(quant_conv, "run_reference",
                        lambda op, operands, attrs: seen.append(operands[0].dtype) or reference(op, operands, attrs))
    b = np.array([0, -7, 1], np.int64)
    for k in (2**24 // (255 * 127) - 1, 2**24 // (255 * 127) + 1):  # 517 terms of 255 * 127, then 519
        x = np.full((2, k), 255, np.int64)
        x[1, ::2] = -255
        w = np.full((3, k), 127, np.int64)
        np.testing.assert_array_equal(_integer_product("linear", [x, w, b], {}), _int64_linear(x, w, b))
    assert int(np.float32(519 * 255 * 127)) != 519 * 255 * 127  # the premise: float32 rounds this sum
    assert seen == [np.float32, np.float64]


def test_conv_and_matmul_reductions_are_bounded_by_their_own_lengths():
    rng = np.random.default_rng(1)
    a = rng.integers(-255, 256, (2, 4, 64, 32), dtype=np.int64)
    b = rng.integers(-128, 128, (2, 4, 32, 16), dtype=np.int64)
    np.testing.assert_array_equal(_integer_product("matmul", [a, b], {}), a @ b)
    x = rng.integers(-255, 256, (1, 8, 6, 6), dtype=np.int64)
    w = rng.integers(-128, 128, (4, 4, 3, 3), dtype=np.int64)  # groups=2: 4 channels x 9 taps per result
    attrs = {"stride": [1, 1], "pad": [0, 0, 0, 0], "dilation": [1, 1], "groups": 2}
    exact = np.asarray(run_reference("conv2d", [x, w], attrs)[0], np.int64)
    np.testing.assert_array_equal(_integer_product("conv2d", [x, w], attrs), exact)
