"""qlinear through the int16 dot-product kernel (constant weights and inputs of at most
8 bits, proven int32 accumulator) against the reference: odd K, stacked rows, extremes."""
import numpy as np
import pytest

from numba_cases import compare, one_node, qtype, requant_attrs, storage


@pytest.mark.parametrize("x_shape, n_out, x_storage, w_storage, extreme", [
    ((2, 3, 37), 5, ("u8", 128), ("i8", 0), False),
    ((7, 65), 33, ("i8", 5), ("u4", 8), False),
    ((4, 301), 3, ("u8", 255), ("i8", 0), True),
])
def test_int16_qlinear_matches_reference(x_shape, n_out, x_storage, w_storage, extreme):
    rng = np.random.default_rng(x_shape[-1])
    k = x_shape[-1]
    x_t = qtype(x_storage[0], x_shape, zp=x_storage[1])
    w_t = qtype(w_storage[0], (n_out, k), zp=w_storage[1], axis=0)
    w = np.full((n_out, k), -128, np.int32) if extreme else storage(rng, w_t)
    typical = int(np.sqrt(k) * 255 * 255 / 12)
    attrs = {**requant_attrs(rng, n_out, "half_away", (10 / typical, 60 / typical)), "clamp": [0, 255]}
    bias = rng.integers(-typical, typical, n_out).astype(np.int32)
    operands = [(x_t, None), (w_t, w), (qtype("i32", (n_out,), scale=1e-3), bias)]
    node = one_node("qlinear", operands, attrs, qtype("u8", x_shape[:-1] + (n_out,), zp=7))
    x = np.zeros(x_shape, np.int32) if extreme else storage(rng, x_t)
    compare(node, [x, w, bias])


def test_dot_and_tile_kernels_equal_numpy_off_the_tile_sizes():
    """Both int16 kernels directly (the host runs only one of them through qlinear)."""
    from qcompiler.backends.numba.kernels.linear import qproduct16_kernel, qproduct_tiled_kernel
    from qcompiler.backends.numba.kernels.tile16 import HAS_AVX512BW, LANES
    from qcompiler.backends.numba.weights import tiled_rows16

    rng = np.random.default_rng(11)
    b, m, k, n = 2, 5, 45, 7
    x = rng.integers(-255, 256, (b, m, k)).astype(np.int16)
    w = rng.integers(-128, 128, (n, k)).astype(np.int16)
    params = (np.arange(n, dtype=np.int32), np.ones(n, np.int64), np.zeros(n, np.int64), 0, -(2**31), 2**31 - 1, 0)
    want = (x.astype(np.int64) @ w.T.astype(np.int64)) + np.arange(n)
    got = np.empty((b, m, n), np.int32)
    qproduct16_kernel(x, w[None], *params, got)
    np.testing.assert_array_equal(got, want)
    if HAS_AVX512BW:
        wt = tiled_rows16(w, 1, LANES)[0]
        xt = np.zeros((b, 8, wt.shape[1]), np.int16)
        xt[:, :m, :k] = x
        got[:] = -1
        qproduct_tiled_kernel(xt, wt, *params, got)
        np.testing.assert_array_equal(got, want)
