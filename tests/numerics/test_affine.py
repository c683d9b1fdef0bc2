"""Property tests for affine quantize/dequantize."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

from qcompiler.ir.types import STORAGE_RANGES, QuantType
from qcompiler.numerics.affine import dequantize, fake_quantize, params_from_range, quantize

STORAGES = ["i8", "u8", "i4", "u4", "i2", "u2"]
finite = st.floats(-1e3, 1e3, allow_nan=False, width=32)


@settings(max_examples=60, deadline=None)
@given(x=arrays(np.float32, st.integers(1, 64), elements=finite), storage=st.sampled_from(STORAGES),
       symmetric=st.booleans())
def test_error_bounded_by_half_step_inside_range(x, storage, symmetric):
    scale, zp = params_from_range(x.min(), x.max(), storage, symmetric)
    t = QuantType(storage, "f32", x.shape, scale, zp)
    q = quantize(x, t)
    lo, hi = STORAGE_RANGES[storage]
    assert q.min() >= lo and q.max() <= hi
    y = dequantize(q, t)
    representable = (x >= dequantize(np.array(lo), t)) & (x <= dequantize(np.array(hi), t))
    err = np.abs(y - x)[representable]
    assert np.all(err <= scale * 0.5 * (1 + 1e-5) + 1e-6)


@settings(max_examples=40, deadline=None)
@given(q=arrays(np.int32, st.integers(1, 32), elements=st.integers(-8, 7)), scale=st.floats(1e-4, 10.0))
def test_quantize_inverts_dequantize_on_the_grid(q, scale):
    t = QuantType("i4", "f32", q.shape, scale, 0)
    assert np.array_equal(quantize(dequantize(q, t), t), q)


def test_zero_is_exact_and_idempotent():
    x = np.array([-0.3, 0.0, 0.7, 2.5], np.float32)
    scale, zp = params_from_range(x.min(), x.max(), "u8", symmetric=False)
    t = QuantType("u8", "f32", x.shape, scale, zp)
    y = fake_quantize(x, t)
    assert y[1] == 0.0
    assert np.array_equal(fake_quantize(y, t), y)


def test_per_channel_and_per_group():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(4, 8)).astype(np.float32) * np.array([[0.01], [0.1], [1], [10]], np.float32)
    lo, hi = w.min(axis=1), w.max(axis=1)
    s, z = params_from_range(lo, hi, "i8", symmetric=True)
    t = QuantType("i8", "f32", w.shape, s, z, axis=0)
    rel = np.abs(fake_quantize(w, t) - w).max(axis=1) / np.abs(w).max(axis=1)
    assert np.all(rel < 1 / 127)
    blocks = w.reshape(4, 2, 4)
    s, z = params_from_range(blocks.min(-1), blocks.max(-1), "i4", symmetric=True)
    tg = QuantType("i4", "f32", w.shape, s, z, axis=1, group=4)
    err = np.abs(fake_quantize(w, tg) - w).reshape(4, 2, 4).max(-1)
    assert np.all(err <= s * 0.5 + 1e-7)


def test_binary_is_sign():
    t = QuantType("b1", "f32", (3,), 0.5, 0)
    assert quantize(np.array([-2.0, 0.0, 3.0]), t).tolist() == [-1, 1, 1]
