"""The Numba codebook convolution equals its integer reference exactly: accumulators
(identity requantization) and requantized outputs, over strides, dilations, padding,
groups, zero points and codebook sizes."""
import numpy as np
import pytest

from qcompiler.backends.numba.codebook_conv import codebook_qconv2d_numba
from qcompiler.numerics.codebook_conv import Requant, Window, codebook_accumulators, codebook_qconv2d

CASES = [  # cin, cout, size, kernel, words, window
    (3, 8, (7, 6), (3, 3), 4, Window(pad=(1, 1, 1, 1))),
    (4, 6, (9, 9), (3, 3), 16, Window(stride=(2, 2), pad=(1, 0, 2, 1))),
    (4, 4, (8, 7), (3, 3), 8, Window(dilation=(2, 1), pad=(2, 1, 2, 1))),
    (6, 6, (6, 6), (3, 3), 4, Window(pad=(1, 1, 1, 1), groups=3)),
    (4, 8, (5, 5), (3, 3), 2, Window(pad=(1, 1, 1, 1), groups=4)),
    (2, 5, (6, 9), (1, 3), 4, Window(stride=(1, 2))),
    (5, 3, (4, 4), (2, 2), 256, Window()),
]


def operands(case, seed, x_zp=128, bits=6):
    cin, cout, size, kernel, words, window = case
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (2, cin) + size).astype(np.int32)
    codebook = rng.integers(-(2 ** (bits - 1)), 2 ** (bits - 1), (words,) + kernel)
    indices = rng.integers(0, words, (cout, cin // window.groups))
    bias = rng.integers(-5000, 5000, cout)
    return x, x_zp, codebook, indices, bias, window


@pytest.mark.parametrize("case", CASES)
def test_accumulators_equal_the_reference(case):
    x, zp, codebook, indices, bias, window = operands(case, seed=0)
    got = codebook_qconv2d_numba(x, zp, codebook, indices, bias, window, Requant.identity(len(indices)))
    want = codebook_accumulators(x, zp, codebook, indices, bias, window)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("rounding", ["half_away", "half_even", "half_up"])
@pytest.mark.parametrize("case", CASES[:4])
def test_requantized_outputs_equal_the_reference(case, rounding):
    x, zp, codebook, indices, bias, window = operands(case, seed=1, x_zp=3)
    rng = np.random.default_rng(2)
    cout = len(indices)
    requant = Requant(rng.integers(2**30, 2**31, cout), rng.integers(36, 40, cout), 7, -128, 127, rounding)
    got = codebook_qconv2d_numba(x, zp, codebook, indices, None, window, requant)
    np.testing.assert_array_equal(got, codebook_qconv2d(x, zp, codebook, indices, None, window, requant))
    assert got.min() >= -128 and got.max() <= 127 and len(np.unique(got)) > 20


def test_wide_accumulators_and_overflow_like_the_reference():
    codebook = np.full((2, 3, 3), 200)
    indices = np.array([[0, 1]])
    window = Window(pad=(1, 1, 1, 1))
    # one large int32 activation: the bound from the input range needs int64 accumulators,
    # the accumulators themselves fit int32
    x = np.zeros((1, 2, 4, 4), np.int32)
    x[0, 1, 2, 2] = 2**20
    got = codebook_qconv2d_numba(x, 0, codebook, indices, None, window, Requant.identity(1))
    np.testing.assert_array_equal(got, codebook_accumulators(x, 0, codebook, indices, None, window))
    x[:] = 2**20  # 18 taps of 2^20 · 200 > 2^31
    for run in (codebook_qconv2d_numba, codebook_qconv2d):
        with pytest.raises(OverflowError, match="accumulator outside int32"):
            run(x, 0, codebook, indices, None, window, Requant.identity(1))
