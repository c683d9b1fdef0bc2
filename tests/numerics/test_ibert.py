"""I-BERT integer kernels against the float functions they approximate, with the error
bounds of the paper's polynomials (computed here on the same grids) plus the output
step; and the int32 invariants on extreme inputs (a bound the plans got wrong raises)."""
import math

import numpy as np
import pytest
from scipy import special

from qcompiler.numerics.ibert_fixed import IBertError, Rescale, bit_lengths, rounding_shift
from qcompiler.numerics.ibert_gelu import ERF_A, ERF_B, GeluPlan, i_gelu
from qcompiler.numerics.ibert_layer_norm import LayerNormPlan, i_layer_norm, isqrt
from qcompiler.numerics.ibert_softmax import EXP_A, EXP_B, EXP_C, ExpPlan, SoftmaxPlan, i_exp, i_softmax

I32 = (-2**31, 2**31 - 1)


def gelu(x):
    return 0.5 * x * (1 + special.erf(x / math.sqrt(2)))


def float_i_gelu(x):
    u = x / math.sqrt(2)
    erf = np.sign(u) * (ERF_A * (np.minimum(np.abs(u), -ERF_B) + ERF_B) ** 2 + 1)
    return 0.5 * x * (1 + erf)


def test_bits_and_shifts():
    v = np.array([0, 1, 2, 3, 4, 2**30, 2**31 - 1])
    np.testing.assert_array_equal(bit_lengths(v), [int(x).bit_length() for x in v])
    np.testing.assert_array_equal(rounding_shift(np.array([5, 6, -5, -6, 7]), 1), [3, 3, -2, -3, 4])
    r = Rescale.of(0.3, 20, "test")
    v = np.arange(-2**19, 2**19, 997)
    assert np.abs(r(v) - v * 0.3).max() <= 0.5 + 2**-12 * 0.3 * 2**19
    with pytest.raises(IBertError, match="too large"):
        Rescale.of(2.0**30, 8, "test")


def test_isqrt_is_the_floor_of_the_root():
    n = np.concatenate([np.arange(0, 5000), np.arange(0, 2**31 - 1, 104729), [2**31 - 1]]).astype(np.int64)
    n = np.concatenate([n, np.arange(1, 46341) ** 2 - 1, np.arange(1, 46341) ** 2])
    np.testing.assert_array_equal(isqrt(n), [math.isqrt(int(v)) for v in n])


@pytest.mark.parametrize("scale", [0.08, 1e-3, 3e-6])
def test_i_exp_within_the_polynomial_error(scale):
    p = np.linspace(-math.log(2), 0, 20001)
    poly_error = np.abs(EXP_A * (p + EXP_B) ** 2 + EXP_C - np.exp(p)).max()  # 2.13e-3
    plan = ExpPlan.of(scale)
    q = -np.unique(np.geomspace(1, 40 / scale, 4000).astype(np.int64))
    q = np.concatenate([[0], q])
    got = i_exp(q, plan) * plan.scale
    assert np.abs(got - np.exp(q * scale)).max() <= poly_error * 1.05 + 2**-15


def test_i_softmax_rows_masks_and_empty_rows():
    rng = np.random.default_rng(0)
    scale = 0.08
    q = np.round(rng.standard_normal((300, 64)) * 3 / scale).astype(np.int64)
    keep = rng.random((300, 64)) > 0.3
    keep[0] = False  # nothing kept: all zero
    plan = SoftmaxPlan.of(scale, 1 / 255, 0, 0, 255)
    got = i_softmax(q, plan, keep) / 255
    x = np.where(keep, q * scale, -np.inf)
    with np.errstate(invalid="ignore"):
        e = np.exp(x - x.max(-1, keepdims=True))
        want = np.nan_to_num(e / e.sum(-1, keepdims=True))
    assert np.all(got[0] == 0) and np.all(got[~keep] == 0)
    assert np.abs(got - want).max() <= 2.2e-3 + 0.5 / 255  # exp polynomial + half an output step


@pytest.mark.parametrize("scale, bits", [(8 / 255, 8), (12 / 32767, 16)])
def test_i_gelu_within_the_erf_polynomial_error(scale, bits):
    x = np.linspace(-4, 4, 40001)
    approx_error = np.abs(float_i_gelu(x) - gelu(x)).max()  # the float i-GELU: 1.82e-2 on [-4, 4]
    lo, hi = -2**(bits - 1), 2**(bits - 1) - 1
    q = np.arange(lo, hi + 1, max(1, (hi - lo) // 20000))
    out_scale = 12.5 / 32767
    plan = GeluPlan.of(scale, bits, out_scale, 0, -32768, 32767)
    got = i_gelu(q, plan) * out_scale
    factor_cut = 2**-12 * np.abs(q * scale).max()  # 1 + erf keeps 12 bits
    assert np.abs(got - gelu(q * scale)).max() <= approx_error + factor_cut + out_scale
    assert np.abs(got - float_i_gelu(q * scale)).max() <= factor_cut + out_scale  # the same polynomial, in integers


def test_i_gelu_refuses_wide_inputs():
    with pytest.raises(IBertError, match="32 bits"):
        GeluPlan.of(1e-3, 32, 1e-3, 0, -128, 127)


def layer_norm(x, gamma, beta):
    return (x - x.mean(-1, keepdims=True)) / x.std(-1, keepdims=True) * gamma + beta


def test_i_layer_norm_with_outlier_channels():
    rng = np.random.default_rng(1)
    channels = 384
    x = rng.standard_normal((64, channels)) + rng.standard_normal((64, 1)) * 3
    x[:, 3] *= 100
    x[:, 17] *= -80
    gamma, beta = rng.uniform(0.5, 1.5, channels), rng.standard_normal(channels) * 0.1
    gamma[3] *= 60
    in_scale = np.abs(x).max() / 2**20
    want = layer_norm(x, gamma, beta)
    out_scale = np.abs(want).max() / 2**20
    plan = LayerNormPlan.of(channels, gamma, beta, 0, out_scale, 0, *I32)
    got = i_layer_norm(np.round(x / in_scale).astype(np.int64), plan) * out_scale
    ordinary = [c for c in range(channels) if c not in (3, 17)]
    assert np.abs(got - want).max() <= 5e-4 * np.abs(want).max()  # √C · γ_c / S_out has 12 bits
    assert np.abs(got - want)[:, ordinary].max() <= 2e-3  # ordinary channels: |value| ~ 1


def test_i_layer_norm_u8_in_and_out():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((32, 64))
    in_scale, in_zp = (x.max() - x.min()) / 255, 128
    q = np.clip(np.round(x / in_scale) + in_zp, 0, 255)
    want = layer_norm((q - in_zp) * in_scale, 1.0, 0.0)
    out_scale = 8 / 255
    plan = LayerNormPlan.of(64, None, None, in_zp, out_scale, 128, 0, 255)
    got = (i_layer_norm(q, plan) - 128) * out_scale
    assert np.abs(got - np.clip(want, -128 * out_scale, 127 * out_scale)).max() <= 0.5 * out_scale + 1e-3


def test_int32_bounds_hold_on_extreme_inputs():
    """The int32 checks inside the kernels raise on a wrong bound; none may fire."""
    for scale in (1e-9, 1e-4, 10.0):
        plan = SoftmaxPlan.of(scale, 1 / 255, 0, 0, 255)
        q = np.array([[-2**15, 0, 2**15 - 1, -1], [2**15 - 1] * 4, [-2**15] * 4])
        i_softmax(q, plan)
    for scale in (1e-6, 0.05, 100.0):
        plan = GeluPlan.of(scale, 16, scale, 0, *I32)
        i_gelu(np.arange(-2**16 + 1, 2**16), plan)
    plan = LayerNormPlan.of(4096, None, None, 0, 1 / 2**20, 0, *I32)
    rows = np.array([[I32[1]] * 4096, [I32[0]] * 4096, [0] * 4096, [I32[1], I32[0]] * 2048, [I32[1]] + [0] * 4095])
    out = i_layer_norm(rows, plan)
    assert np.all(out[:3] == 0)  # a constant row normalizes to 0
    np.testing.assert_allclose(out[3] / 2**20, np.tile([1, -1], 2048), atol=1e-3)


def test_i_layer_norm_eps_on_a_nearly_constant_row():
    """var = 1e-6 next to eps = 1e-5: float LayerNorm shrinks the row by √(var / (var + eps))."""
    rng = np.random.default_rng(3)
    x = 5 + 1e-3 * rng.standard_normal((8, 64))
    in_scale, eps = 8 / 2**20, 1e-5
    want = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + eps)
    out_scale = 4 / 2**20
    plan = LayerNormPlan.of(64, None, None, 0, out_scale, 0, *I32, in_scale=in_scale, eps=eps)
    got = i_layer_norm(np.round(x / in_scale).astype(np.int64), plan) * out_scale
    assert np.abs(want).max() < 1.3
    assert np.abs(got - want).max() <= 3e-3
