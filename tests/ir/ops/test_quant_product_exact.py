"""The integer products' reference takes the float64 (BLAS) route only where it is exact."""
import numpy as np

from qcompiler.ir.ops.quant_conv import _integer_product


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
