"""Minifloat graphs in ONNX: FLOAT8 QuantizeLinear / DequantizeLinear, run by onnxruntime
and the ONNX reference evaluator against the reference interpreter."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx.reference import ReferenceEvaluator

from qcompiler.backends.onnx import to_onnx
from qcompiler.backends.onnx.float8 import MinifloatExportWarning
from qcompiler.frontends.fx import import_module
from qcompiler.passmanager import PassContext, run_pipeline
from qcompiler.runtime.reference import run_graph
from qcompiler.testing.zoo import digits_data, train_digits_cnn


@pytest.fixture(scope="module")
def digits():
    torch.set_num_threads(1)
    x_train, _, x_test, _ = digits_data()
    return train_digits_cnn(), x_train[:64].numpy(), x_test[:100].numpy()


def quantized(digits, quantize: str):
    model, x_train, _ = digits
    graph = import_module(model, torch.from_numpy(x_train[:4]), dynamic_batch=True)
    run_pipeline(graph, f"fold-bn,calibrate{{method=minmax,samples=64}},{quantize}", PassContext(calibration=x_train))
    return graph


def assert_evaluates_like_the_reference(got, want):
    """The reference sums minifloat conv/linear products exactly (numerics/minifloat_products.py),
    the ONNX evaluator in float32: an activation at a rounding midpoint may take the neighbouring
    code (measured: 99.2% of e4m3 logits within 1e-5, the worst off by 4e-5 of the largest)."""
    assert np.isclose(got, want, rtol=1e-5, atol=1e-5).mean() >= 0.98
    assert np.abs(got - want).max() < 1e-3 * np.abs(want).max()


def onnxruntime_outputs(proto, x, level=ort.GraphOptimizationLevel.ORT_DISABLE_ALL):
    options = ort.SessionOptions()
    options.graph_optimization_level = level
    session = ort.InferenceSession(proto.SerializeToString(), options)
    return session.run(None, {session.get_inputs()[0].name: x})[0]


@pytest.mark.parametrize("fmt,element", [("e4m3", onnx.TensorProto.FLOAT8E4M3FN),
                                         ("e5m2", onnx.TensorProto.FLOAT8E5M2)])
def test_fp8_graphs_run_in_onnxruntime_like_the_reference(digits, fmt, element):
    graph = quantized(digits, f"quantize{{weights={fmt}, acts={fmt}}}")
    proto = to_onnx(graph)
    assert proto.opset_import[0].version >= 19
    weights = [t.name for t in proto.graph.initializer if t.data_type == element and len(t.dims) >= 2]
    assert weights == ["features.0.weight", "features.3.weight", "classifier.weight"]  # FLOAT8 codes
    ops = [n.op_type for n in proto.graph.node]
    assert ops.count("QuantizeLinear") == 3 and ops.count("DequantizeLinear") == 6
    x = digits[2]
    want = run_graph(graph, [x])[0]
    assert_evaluates_like_the_reference(ReferenceEvaluator(proto).run(None, {"x": x})[0], want)
    # onnxruntime convolves in another order: allow a neighbouring code for values at a midpoint
    got = onnxruntime_outputs(proto, x)
    assert np.isclose(got, want, rtol=1e-5, atol=1e-5).mean() > 0.99
    assert np.abs(got - want).max() < 0.05 * np.abs(want).max()


def test_e4m3_keeps_its_relus_under_onnxruntime_optimizations(digits):
    """Without zero points (opset 21) onnxruntime's ReluQuantFusion leaves the Relus in front
    of FLOAT8 QuantizeLinears alone (with one it dropped them: logits off by 13). What remains
    is its WeightBiasQuantization, which rounds each conv bias to s_x * s_w as for int8 QDQ."""
    graph = quantized(digits, "quantize{weights=e4m3, acts=e4m3}")
    proto = to_onnx(graph)
    assert proto.opset_import[0].version == 21
    x = digits[2]
    want = run_graph(graph, [x])[0]
    got = onnxruntime_outputs(proto, x, ort.GraphOptimizationLevel.ORT_ENABLE_ALL)
    assert np.abs(got - want).max() < 0.01 * np.abs(want).max()  # measured 0.06 on logits up to ~15
    assert (got.argmax(1) == want.argmax(1)).mean() >= 0.99


def test_formats_onnx_lacks_export_their_weights_as_floats_with_a_warning(digits):
    graph = quantized(digits, "quantize{weights=e2m3, acts=e4m3}")
    with pytest.warns(MinifloatExportWarning, match=r"weight %\S+ is e2m3 \(finite\): ONNX has no such element type"):
        proto = to_onnx(graph)
    x = digits[2]
    assert_evaluates_like_the_reference(ReferenceEvaluator(proto).run(None, {"x": x})[0], run_graph(graph, [x])[0])
