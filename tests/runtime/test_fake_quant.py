"""Torch fake quantization agrees with the numpy affine numerics value for value, and
its straight-through gradient is 1 inside the representable range and 0 outside."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from qcompiler.ir import QuantType
from qcompiler.numerics import affine
from qcompiler.runtime.fake_quant import dequantize, fake_quantize, quant_params

RNG = np.random.default_rng(0)


def _types(x: np.ndarray) -> dict:
    blocks = x.reshape(4, 3, 2)
    return {
        "tensor": QuantType("i8", "f32", x.shape, *affine.params_from_range(x.min(), x.max(), "i8", True)),
        "tensor_u8": QuantType("u8", "f32", x.shape, *affine.params_from_range(x.min(), x.max(), "u8", False)),
        "channel": QuantType("i4", "f32", x.shape, *affine.params_from_range(x.min(1), x.max(1), "i4", False), axis=0),
        "group": QuantType("i4", "f32", x.shape, *affine.params_from_range(blocks.min(2), blocks.max(2), "i4", True),
                           axis=1, group=2),
        "binary": QuantType("b1", "f32", x.shape, np.float32(0.25), np.int32(0)),
    }


def _fake_quantize(x: torch.Tensor, t: QuantType) -> torch.Tensor:
    scale, zero_point = quant_params(t)
    return fake_quantize(x, scale, zero_point, t.qmin, t.qmax, t.storage == "b1")


@pytest.mark.parametrize("kind", ["tensor", "tensor_u8", "channel", "group", "binary"])
def test_matches_numpy_numerics(kind):
    x = RNG.standard_normal((4, 6)).astype(np.float32) * 3
    t = _types(x)[kind]
    # quantize with a range narrower than x so that clamping happens too
    ours = _fake_quantize(torch.from_numpy(x * 1.5), t).numpy()
    np.testing.assert_array_equal(ours, affine.fake_quantize(x * 1.5, t))
    q = affine.quantize(x, t)
    np.testing.assert_array_equal(dequantize(torch.from_numpy(q), *quant_params(t)).numpy(), affine.dequantize(q, t))


def test_binary_storage_is_plus_or_minus_scale():
    x = torch.tensor([-2.0, -0.1, 0.0, 0.3, 5.0])
    t = QuantType("b1", "f32", (5,), np.float32(0.5), np.int32(0))
    assert _fake_quantize(x, t).tolist() == [-0.5, -0.5, 0.5, 0.5, 0.5]


def test_straight_through_gradient_is_clipped_to_the_range_per_channel():
    t = QuantType("i8", "f32", (2, 4), np.array([0.01, 0.1], np.float32), np.array([0, 0], np.int32), axis=0)
    x = torch.tensor([[0.5, 1.5, -1.0, 1.27], [5.0, 13.0, -12.9, -12.7]], requires_grad=True)
    _fake_quantize(x, t).sum().backward()
    # representable: row 0 [-1.28, 1.27], row 1 [-12.8, 12.7]
    assert x.grad.tolist() == [[1.0, 0.0, 1.0, 1.0], [1.0, 0.0, 0.0, 1.0]]


@settings(max_examples=60, deadline=None)
@given(scale=st.floats(1e-4, 10.0), zero_point=st.integers(-8, 7), seed=st.integers(0, 2**16))
def test_per_tensor_agreement_for_any_scale(scale, zero_point, seed):
    t = QuantType("i4", "f32", (64,), np.float32(scale), np.int32(zero_point))
    x = np.random.default_rng(seed).standard_normal(64).astype(np.float32) * np.float32(scale) * 10
    np.testing.assert_array_equal(_fake_quantize(torch.from_numpy(x), t).numpy(), affine.fake_quantize(x, t))
