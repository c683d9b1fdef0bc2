"""quantize/dequantize are bit-identical to the defining float formulas (the in-place
float32 fast paths must round exactly like them): ties, clipping, zero points, per-tensor,
per-channel and per-group parameters, every storage."""
import numpy as np
import pytest

from qcompiler.ir.types import STORAGE_RANGES, QuantType
from qcompiler.numerics.affine import broadcast_params, dequantize, quantize

SHAPE = (4, 6, 8)


def quantize_formula(x, t):
    scale, zp = broadcast_params(t, x.shape)
    lo, hi = STORAGE_RANGES[t.storage]
    return np.clip(np.rint(x / scale) + zp, lo, hi).astype(np.int32)


def dequantize_formula(q, t):
    scale, zp = broadcast_params(t, q.shape)
    return ((q.astype(np.int64) - zp) * scale).astype(np.float32)


def _params(rng, storage, count, zp_span):
    lo, hi = STORAGE_RANGES[storage]
    scale = np.exp(rng.uniform(-12, 4, count)).astype(np.float32)
    zp = rng.integers(max(lo, -zp_span), min(hi, zp_span) + 1, count).astype(np.int32)
    return scale, zp


def _types(rng, storage):
    """Per tensor, per channel along axis 1, per group of 4 along axis 2."""
    span = 2**20 if storage == "i32" else 2**31
    s, z = _params(rng, storage, 1, span)
    yield QuantType(storage, "f32", SHAPE, float(s[0]), int(z[0]))
    s, z = _params(rng, storage, SHAPE[1], span)
    yield QuantType(storage, "f32", SHAPE, s, z, axis=1)
    s, z = _params(rng, storage, SHAPE[0] * SHAPE[1] * SHAPE[2] // 4, span)
    yield QuantType(storage, "f32", SHAPE, s.reshape(4, 6, 2), z.reshape(4, 6, 2), axis=2, group=4)


def _inputs(rng, t):
    """Random reals, exact half steps (ties), values far outside the range and zeros."""
    scale, zp = broadcast_params(t, SHAPE)
    steps = rng.integers(-300, 300, SHAPE) + rng.choice([0.0, 0.5, -0.5, 0.25], SHAPE)
    ties = (steps * scale.astype(np.float64)).astype(np.float32)
    wild = (rng.standard_normal(SHAPE) * np.float32(10.0) ** rng.integers(-6, 8, SHAPE)).astype(np.float32)
    return [ties, wild, np.zeros(SHAPE, np.float32), -np.zeros(SHAPE, np.float32)]


@pytest.mark.parametrize("storage", sorted(s for s in STORAGE_RANGES if s != "b1"))
def test_bit_identical_to_the_formulas(storage):
    rng = np.random.default_rng(sorted(STORAGE_RANGES).index(storage))
    for t in _types(rng, storage):
        for x in _inputs(rng, t):
            q = quantize(x, t)
            np.testing.assert_array_equal(q, quantize_formula(x, t))
            assert q.dtype == np.int32
            lo, hi = STORAGE_RANGES[storage]
            stored = [q, rng.integers(lo, hi, SHAPE, endpoint=True).astype(np.int32),
                      rng.integers(-2**30, 2**30, SHAPE).astype(np.int32)]  # the last: outside narrow storages
            for s in stored:
                y = dequantize(s, t)
                assert y.dtype == np.float32
                np.testing.assert_array_equal(y.view(np.int32), dequantize_formula(s, t).view(np.int32))


def test_scalars_and_empty_arrays_keep_the_formulas_results():
    t = QuantType("u8", "f32", (), 0.1, 7)
    assert quantize(np.float32(0.35), t) == quantize_formula(np.asarray(0.35, np.float32), t)
    assert dequantize(np.int32(9), t) == dequantize_formula(np.asarray(9, np.int32), t)
    empty = QuantType("i8", "f32", (0, 3), np.full(3, 0.5, np.float32), np.zeros(3, np.int32), axis=1)
    assert quantize(np.zeros((0, 3), np.float32), empty).shape == (0, 3)
    assert dequantize(np.zeros((0, 3), np.int32), empty).shape == (0, 3)
