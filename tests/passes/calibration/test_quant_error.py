"""The compiled quantization error is the numpy fake-quant's error, value for value:
half-way ties, clipping, zeros and tiny values, every width, both symmetries."""
import numpy as np
import pytest

from qcompiler.ir.types import QuantType
from qcompiler.passes.calibration.errors import CalibrationError
from qcompiler.numerics.affine import fake_quantize, params_from_range
from qcompiler.passes.calibration.quant_error import candidate_mse, quantization_mse, storage_for_bits


def _numpy_errors(x, lo, hi, bits, symmetric):
    scale, zp = params_from_range(lo, hi, storage_for_bits(bits), symmetric)
    t = QuantType(storage_for_bits(bits), "f32", x.shape, scale, zp, axis=0)
    return x.astype(np.float64) - fake_quantize(x, t)


def _numpy_squared_errors(x, lo, hi, bits, symmetric):
    return np.square(_numpy_errors(x, lo, hi, bits, symmetric))


def _near_half_way(lo, hi, bits, symmetric):
    """For each range, a value within a few float32 steps of a half-way point between two
    levels, where float32 division (as quantize divides) and float64 division round apart
    for some of them."""
    scale, _ = params_from_range(lo, hi, storage_for_bits(bits), symmetric)
    k = np.arange(lo.size) % 5 + 0.5
    steps = np.arange(lo.size) % 7 - 3
    return (np.float32(k) * scale).view(np.int32) + steps.astype(np.int32)


@pytest.mark.parametrize("bits", [8, 4, 2])
@pytest.mark.parametrize("symmetric", [True, False])
def test_each_value_errs_exactly_as_numpy_fake_quantize(bits, symmetric):
    rng = np.random.default_rng(bits)
    lo, hi = rng.uniform(-6, 0, 8000), rng.uniform(0, 9, 8000)
    lo[:600] = -2.0 ** (bits - 1)  # scale 1 (asymmetric): x.5 values are exact ties
    hi[:600] = 2.0 ** (bits - 1) - 1
    x = np.concatenate([rng.standard_t(2, 5000), np.arange(-300, 300) * 0.5,
                        [0.0, -0.0, 1e-30, -1e-30, 1e4, -1e4]]).astype(np.float32)
    x = np.concatenate([x, _near_half_way(lo[x.size:], hi[x.size:], bits, symmetric).view(np.float32)])
    # one value per row: no summation order, so equality is exact
    errors = quantization_mse(x.reshape(-1, 1), lo, hi, bits, symmetric)
    assert np.array_equal(errors, _numpy_squared_errors(x.reshape(-1, 1), lo, hi, bits, symmetric)[:, 0])


def test_rows_average_their_weighted_errors():
    rng = np.random.default_rng(0)
    rows = rng.laplace(size=(6, 3000)).astype(np.float32)
    lo, hi = rows.min(axis=1) / 3, rows.max(axis=1) / 3
    weights = rng.uniform(0, 2, 3000)
    squared = _numpy_squared_errors(rows, lo, hi, 8, False)
    np.testing.assert_allclose(quantization_mse(rows, lo, hi, 8, False), squared.mean(axis=1), rtol=1e-12)
    np.testing.assert_allclose(quantization_mse(rows, lo, hi, 8, False, weights),
                               (squared * weights).sum(axis=1) / weights.sum(), rtol=1e-12)


@pytest.mark.parametrize("symmetric", [True, False])
def test_candidates_sum_in_element_order_bit_for_bit(symmetric):
    """All candidates of a row in one pass (vectorized across candidates) give each
    candidate's sum exactly as adding its weighted errors one element after another."""
    rng = np.random.default_rng(1)
    rows = rng.laplace(size=(5, 700)).astype(np.float32)
    factors = np.geomspace(1e-2, 1.0, 13)[:, None]
    lo, hi = factors * rows.min(axis=1), factors * rows.max(axis=1)
    weights = rng.uniform(0, 2, (5, 700))
    errors = candidate_mse(rows, lo, hi, 8, symmetric, weights)
    assert errors.shape == (13, 5)
    for k in range(13):
        e = _numpy_errors(rows, lo[k], hi[k], 8, symmetric)
        terms = weights * e * e  # the kernel's order of products too
        in_order = np.cumsum(terms, axis=1)[:, -1] / np.cumsum(weights, axis=1)[:, -1]
        assert np.array_equal(errors[k], in_order)
        assert np.array_equal(errors[k], quantization_mse(rows, lo[k], hi[k], 8, symmetric, weights))


def test_candidate_ranges_must_match_the_rows():
    with pytest.raises(CalibrationError, match=r"candidate ranges must be \[K, 3\]"):
        candidate_mse(np.zeros((3, 4), np.float32), np.zeros((2, 4)), np.ones((2, 4)), 8, True)
