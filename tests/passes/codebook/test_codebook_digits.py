"""Kernel codebooks on the digits CNN (sklearn digits, BN folded): at most 2 bits per
conv weight, within 2.5 points of the fp32 accuracy after fine-tuning (also when lowered
to integers and run by the Numba backend), and closer to the fp32 model (KL, cross
entropy) than uniform int2 conv weights, which take more bits. fp32 is measured here too.

KQ's goal is within 1 point at <= 2 bits; the mnist ResNet meets it (bench/RESULTS.md,
"Kernel codebook convolution"), this 1,224-weight CNN does not reliably: 359 test digits,
fp32 7 errors, KQ at 1.55 bits 9-14 errors over k-means seeds 0-3 (12 at seed 0, 1.4 pt).
Longer or other fine-tuning (20 epochs, 3 rounds, lr 0.25/1, T=1/4, mse, batch 32) and
the other layouts under 2 bits (idx5 with cb4, or shared at cb5/cb6) stay within that
spread, so the bound is 2.5 points: it still fails without fine-tuning (k-means alone:
87.5%) or with a fine-tune that does not recover."""
import numpy as np
import pytest

from qcompiler.backends.numba import NumbaExecutor
from qcompiler.frontends.fx import import_module
from qcompiler.ir import QuantType, graph_diff, load_qir, save_qir, verify
from qcompiler.ir.clone import clone
from qcompiler.ir.dense import Dense
from qcompiler.numerics.affine import quantize
from qcompiler.passes.calibration.weight_ranges import weight_range
from qcompiler.passes.codebook.quantize import conv_weights
from qcompiler.passes.codebook.size import codebook_size
from qcompiler.passes.quantize.weights import params_in
from qcompiler.passmanager import PassContext, PassManager, run_pipeline
from qcompiler.runtime.reference import run_graph
from qcompiler.testing.zoo import digits_data, train_digits_cnn

pytestmark = pytest.mark.slow
ACCURACY_BOUND = 0.025  # below fp32; see the module's docstring


@pytest.fixture(scope="module")
def digits():
    x_train, _, x_test, y_test = (t.numpy() for t in digits_data())
    g = import_module(train_digits_cnn(), (digits_data()[2][:2],), dynamic_batch=True)
    run_pipeline(g, "fold-bn,canonicalize")
    return g, x_train, x_test, y_test


def accuracy(g, x, y) -> float:
    return float((run_graph(g, [x])[0].argmax(1) == y).mean())


def uniform_int2(g, symmetric: bool, method: str):
    """Every 3x3 conv weight as per-channel int2 (2 bits/weight plus an f32 scale and a
    zero point per channel), ranges by `method`."""
    g = clone(g)
    for w in conv_weights(g, (3, 3)):
        a = g.const_value(w)
        scale, zp = params_in(*weight_range(a, method, 2, symmetric, axis=0), "i2", symmetric)
        t = QuantType("i2", "f32", a.shape, np.asarray(scale, np.float32), np.asarray(zp), axis=0)
        w.producer.attrs["value"] = Dense(quantize(a, t).astype(np.int8))
        w.type = t
    return g


@pytest.fixture(scope="module")
def codebook_model(digits):
    g, x_train, _, _ = digits
    kq = clone(g)
    PassManager("codebook-quantize{codebook_bits=6,index_bits=4},codebook-finetune{loss=kl}").run(
        kq, PassContext(calibration=x_train))
    verify(kq)
    return kq


def test_within_two_and_a_half_points_of_fp32_at_under_two_bits(digits, codebook_model):
    g, _, x_test, y_test = digits
    fp32 = accuracy(g, x_test, y_test)
    assert fp32 > 0.95
    assert codebook_size(codebook_model).bits_per_weight() <= 2.0
    assert accuracy(codebook_model, x_test, y_test) >= fp32 - ACCURACY_BOUND


def test_qir_round_trip(digits, codebook_model, tmp_path):
    save_qir(codebook_model, tmp_path / "kq.qir")
    loaded = load_qir(tmp_path / "kq.qir")
    assert graph_diff(loaded, codebook_model) is None
    x_test = digits[2]
    np.testing.assert_array_equal(run_graph(loaded, [x_test])[0], run_graph(codebook_model, [x_test])[0])


def test_runs_as_integers_on_the_numba_backend(digits, codebook_model):
    """codebook-expand{weights=int8} makes the codebook weights ordinary i8 weights, which
    the post-training pipeline (u8 activations) lowers and the Numba backend runs."""
    g, x_train, x_test, y_test = digits
    lowered = clone(codebook_model)
    run_pipeline(lowered, "codebook-expand{weights=int8},calibrate,quantize,lower", PassContext(calibration=x_train))
    verify(lowered)
    logits = NumbaExecutor(lowered)([x_test])[0]
    assert float((logits.argmax(1) == y_test).mean()) >= accuracy(g, x_test, y_test) - ACCURACY_BOUND


def log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(1, keepdims=True))


def test_closer_to_fp32_than_uniform_int2_at_fewer_bits(digits, codebook_model):
    # judged by the KL divergence from the fp32 model's outputs and by the test cross entropy,
    # not by top-1 (KQ and the best int2 are one digit of 359 apart there: 96.66% / 96.38%);
    # on seed 0 KQ's KL is 0.009 against int2's best 0.064, its cross entropy 0.095 against 0.179
    g, _, x_test, y_test = digits
    weights = sum(int(np.prod(w.type.shape)) for w in conv_weights(g, (3, 3)))
    channels = sum(w.type.shape[0] for w in conv_weights(g, (3, 3)))
    int2_bits = (2 * weights + 40 * channels) / weights  # f32 scale and 8-bit zero point per channel
    assert codebook_size(codebook_model).bits_per_weight() < int2_bits
    fp32 = log_softmax(run_graph(g, [x_test])[0])

    def kl_and_cross_entropy(model):
        log_p = log_softmax(run_graph(model, [x_test])[0])
        return (float((np.exp(fp32) * (fp32 - log_p)).sum(1).mean()),
                float(-log_p[np.arange(len(y_test)), y_test].mean()))

    int2 = [kl_and_cross_entropy(uniform_int2(g, s, m)) for s in (True, False) for m in ("minmax", "mse")]
    kl, cross_entropy = kl_and_cross_entropy(codebook_model)
    assert kl < min(k for k, _ in int2) / 2 and cross_entropy < min(c for _, c in int2) * 0.75
