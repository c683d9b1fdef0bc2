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
