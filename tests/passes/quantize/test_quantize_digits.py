"""The post-training pipeline on the digits CNN: import -> fold-bn -> calibrate ->
quantize (-> bias-correct), run as a fake-quant graph by the reference interpreter."""
import numpy as np
import pytest
import torch

from quantize_graphs import weight_consts
from qcompiler.backends.numba.executor import NumbaExecutor
from qcompiler.frontends.fx import import_module
from qcompiler.ir.types import QuantType
from qcompiler.ir.verifier import verify
from qcompiler.numerics.sqnr import sqnr_db
from qcompiler.passmanager import PassContext, run_pipeline
from qcompiler.runtime.reference import run_graph
from qcompiler.testing.zoo import digits_data, train_digits_cnn

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def digits():
    torch.set_num_threads(1)
    model = train_digits_cnn()
    x_train, _, x_test, y_test = digits_data()
    float_graph = import_module(model, x_train[:4], dynamic_batch=True)
    x_test = x_test.numpy()
    return model, x_train.numpy(), x_test, y_test.numpy(), run_graph(float_graph, [x_test])[0]


def compiled(digits, pipeline, calibration=None, **ctx_args):
    model, x_train, *_ = digits
    graph = import_module(model, torch.from_numpy(x_train[:4]), dynamic_batch=True)
    ctx = PassContext(calibration=x_train if calibration is None else calibration, **ctx_args)
    run_pipeline(graph, pipeline, ctx)
    verify(graph)
    return graph, ctx


def test_int8_per_channel_accuracy_is_within_half_a_point_of_fp32(digits):
    _, _, x_test, y_test, reference = digits
    graph, ctx = compiled(digits, "fold-bn,calibrate{samples=512},quantize{weights=i8,granularity=channel}")
    assert "batch_norm" not in graph.op_counts() and ctx.diagnostics == []
    consts = weight_consts(graph)
    assert len(consts) == 3  # two convs and the classifier; biases stay float
    for node in consts:
        t, stored = node.output.type, node.attrs["value"].array
        assert (t.storage, t.axis) == ("i8", 0) and stored.dtype == np.int8
        assert t.qmin <= stored.min() and stored.max() <= t.qmax
    fp32 = (reference.argmax(1) == y_test).mean()
    int8 = (run_graph(graph, [x_test])[0].argmax(1) == y_test).mean()
    assert fp32 > 0.9 and int8 >= fp32 - 0.005


def test_every_activation_of_the_integer_path_is_quantized(digits):
    graph, _ = compiled(digits, "fold-bn,calibrate{samples=128},quantize")
    for node in graph.nodes:
        if node.op not in ("const",):
            assert isinstance(node.outputs[0].type, QuantType), node.label()
    assert graph.op_counts()["quantize"] == 1


def test_int4_with_mse_and_bias_correction_beats_int4_minmax(digits):
    _, _, x_test, _, reference = digits
    sqnr = {}
    for method, extra in (("minmax", ""), ("mse", ",bias-correct{samples=512}")):
        graph, _ = compiled(digits, f"fold-bn,calibrate{{samples=512,method={method},weight_bits=4}},"
                                    f"quantize{{weights=i4}}{extra}")
        sqnr[method] = sqnr_db(reference, run_graph(graph, [x_test])[0])
    assert sqnr["mse"] > sqnr["minmax"] + 3, sqnr


def test_x86_avx2_reduce_range_keeps_weights_in_7_bits(digits):
    graph, _ = compiled(digits, "fold-bn,calibrate{samples=128},quantize", target="x86-avx2")
    for node in weight_consts(graph):
        stored = node.attrs["value"].array
        assert -64 <= stored.min() and stored.max() <= 63
    assert all(n.attrs.get("q.reduce_range") for n in graph.nodes if n.op in ("conv2d", "linear"))


def test_cortex_m_turns_requested_int4_into_int8_with_warnings(digits):
    graph, ctx = compiled(digits, "fold-bn,calibrate{samples=128},quantize{weights=i4}", target="cortex-m")
    assert {n.output.type.storage for n in weight_consts(graph)} == {"i8"}
    warned = [d for d in ctx.diagnostics if "i4 weights are not supported" in d.message]
    assert len(warned) == 3 and all("using i8" in d.message for d in warned)


def _accuracy(graph, digits) -> float:
    _, _, x_test, y_test, _ = digits
    return float((run_graph(graph, [x_test])[0].argmax(1) == y_test).mean())


def test_i2_weights_get_2_bit_ranges_without_being_told_at_calibrate(digits):
    # calibrate computes weight ranges for 8 bits; quantize derives them again for i2
    implicit, _ = compiled(digits, "fold-bn,calibrate{samples=256,method=mse},quantize{weights=i2}")
    explicit, _ = compiled(digits, "fold-bn,calibrate{samples=256,method=mse,weight_bits=2},quantize{weights=i2}")
    for a, b in zip(weight_consts(implicit), weight_consts(explicit)):
        np.testing.assert_allclose(a.output.type.scale.array, b.output.type.scale.array, rtol=1e-6)
    assert _accuracy(implicit, digits) > 0.85 and abs(_accuracy(implicit, digits) - _accuracy(explicit, digits)) <= 0.01


def test_all_zero_calibration_data_compiles_and_runs(digits):
    model, x_train, *_ = digits
    zeros = np.zeros_like(x_train[:8])
    graph, ctx = compiled(digits, "fold-bn,calibrate,quantize,lower", calibration=zeros)
    assert any("degenerate calibrated range" in d.message for d in ctx.diagnostics)
    float_graph = import_module(model, torch.from_numpy(x_train[:4]), dynamic_batch=True)
    expected = run_graph(float_graph, [zeros])[0]
    step = np.ptp(expected) / 255  # the 8-bit output grid over these logits
    np.testing.assert_allclose(NumbaExecutor(graph)([zeros])[0], expected, atol=2 * step)
