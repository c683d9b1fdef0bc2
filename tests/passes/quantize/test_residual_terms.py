"""Residual terms (passes/quantize/residual_terms.py): a second term quantizing the first's
residual cuts the weight error by far more than one more bit would, and the MMSE scale
beats the scale that covers each channel's largest magnitude."""
import numpy as np
import pytest

from qcompiler.numerics.sqnr import sqnr_db
from qcompiler.passes.quantize.residual_terms import (dequantize_per_channel, max_scales, mmse_scales, reconstruct,
                                                      residual_terms)

RNG = np.random.default_rng(0)
WEIGHTS = {"gaussian": RNG.standard_normal((16, 8, 3, 3)).astype(np.float32),
           "heavy-tailed": RNG.standard_t(2, (32, 64)).astype(np.float32)}


@pytest.mark.parametrize("kind", sorted(WEIGHTS))
def test_two_terms_reduce_the_weight_error(kind):
    w = WEIGHTS[kind]
    one, two = (sqnr_db(w, reconstruct(residual_terms(w, k, "i4"))) for k in (1, 2))
    # one int4 tensor: about 20 dB on Gaussian weights; the second term adds about as much again
    assert two > one + 15, (one, two)


@pytest.mark.parametrize("kind", sorted(WEIGHTS))
def test_mmse_scale_beats_the_max_scale(kind):
    w = WEIGHTS[kind]

    def one_term(scale):
        q = np.clip(np.round(w.reshape(len(w), -1) / scale[:, None]), -8, 7).reshape(w.shape)
        return sqnr_db(w, dequantize_per_channel(q, scale))

    assert one_term(mmse_scales(w, "i4")) > one_term(max_scales(w, "i4")) + 0.5


def test_terms_are_storage_integers_with_one_scale_per_channel():
    w = WEIGHTS["gaussian"]
    terms = residual_terms(w, 3, "i4")
    assert len(terms) == 3
    for q, scale in terms:
        assert q.dtype == np.int8 and q.shape == w.shape and q.min() >= -8 and q.max() <= 7
        assert scale.shape == (16,) and (scale > 0).all()
    # each term is finer than the one before: it covers what the previous one rounded away
    assert (terms[1][1] < terms[0][1] / 4).all() and (terms[2][1] < terms[1][1] / 4).all()


def test_an_all_zero_channel_stays_zero():
    w = WEIGHTS["gaussian"].copy()
    w[3] = 0
    terms = residual_terms(w, 2, "i4")
    assert all((q[3] == 0).all() for q, _ in terms)
    assert np.isfinite(reconstruct(terms)).all()


@pytest.mark.parametrize("kind", sorted(WEIGHTS))
def test_two_int4_terms_match_one_int8_tensor(kind):
    """What lets allocate-bits score a "2x4" choice by the layer's q.sens at 8 bits."""
    w = WEIGHTS[kind]
    two_int4 = sqnr_db(w, reconstruct(residual_terms(w, 2, "i4")))
    one_int8 = sqnr_db(w, reconstruct(residual_terms(w, 1, "i8")))
    assert two_int4 > one_int8 - 0.5, (two_int4, one_int8)
