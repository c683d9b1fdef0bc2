"""The `qoperator` form: lowered graphs with ONNX Runtime's quantized operators, which
requantize in float and so may round differently from our dyadic arithmetic. The
differences are counted: at most one step anywhere, on a small fraction of values.
What the operators cannot take (a 16-bit intermediate before a table) is spelled out
exactly instead. (Exact u8 x s8 products need VNNI on x86: see test_onnx_export_integer.)"""
import numpy as np
import pytest

from qcompiler.backends.onnx import to_onnx

from onnx_export_helpers import run_onnx
from onnx_export_quantized import digits, digits_graph, has_vnni, mixed_graph, normal, reference_storage

EXACT_PRODUCTS = pytest.mark.skipif(not has_vnni(), reason="u8 x s8 pair sums saturate on this x86 CPU (no VNNI)")
QLINEAR = {"QLinearConv", "QGemm", "QLinearMatMul", "QLinearAdd", "QLinearMul", "QLinearAveragePool",
           "QLinearGlobalAveragePool"}
MAX_DIFFERING = 0.02  # fraction of the values of one tensor that may be a step off


def step_differences(graph, model, feeds) -> dict:
    """{value: (largest |ONNX - reference| in storage steps, fraction differing)}."""
    _, storage = reference_storage(graph, feeds)
    got = run_onnx(model, feeds, [f"{name}:q" for name in storage])
    out = {}
    for name, want in storage.items():
        diff = np.abs(got[f"{name}:q"].astype(np.int64) - want)
        out[name] = (int(diff.max()), np.count_nonzero(diff) / diff.size)
    return out


def assert_bounded(differences: dict) -> None:
    bad = {k: d for k, d in differences.items() if d[0] > 1 or d[1] > MAX_DIFFERING}
    assert not bad, f"values more than one step or too often off: {bad}"


@pytest.mark.parametrize("target", ["x86-avx2", pytest.param("armv8", marks=EXACT_PRODUCTS)])
def test_every_lowered_op_as_qlinear_operators(target):
    graph = mixed_graph(target, lower=True)
    model = to_onnx(graph, "qoperator")
    ops = [n.op_type for n in model.graph.node]
    assert QLINEAR <= set(ops)
    assert {o.domain for o in model.opset_import} == {"", "com.microsoft"}
    # the fused hardswish writes a 16-bit intermediate, which QLinearConv cannot: exact fallback
    assert ops.count("ConvInteger") == 1 and ops.count("QLinearConv") == 1
    assert ops.count("Gather") == 2  # the two tables
    assert_bounded(step_differences(graph, model, {"x": normal(4, 4, 8, 8)}))


@pytest.mark.parametrize("target", ["x86-avx2", pytest.param("generic", marks=EXACT_PRODUCTS)])
def test_digits_cnn(target):
    graph = digits_graph(target, lower=True)
    model = to_onnx(graph, "qoperator", channels_last=False)  # values compared one by one, as the reference's NCHW
    assert {n.op_type for n in model.graph.node} >= {"QLinearConv", "QGemm", "MaxPool", "QuantizeLinear",
                                                      "DequantizeLinear"}
    # the max pool and flatten run on uint8 storage, between the quantized operators
    pool = next(n for n in model.graph.node if n.op_type == "MaxPool")
    assert pool.input[0].endswith(":q") and pool.output[0].endswith(":q")
    differences = step_differences(graph, model, {"x": digits()[2]})
    assert_bounded(differences)
    assert set(differences) == {"x_q", "features_2", "features_5", "features_6", "flatten", "classifier"}
    # by default the grey CNN runs channels-last (NhwcMaxPool, no Transpose) with the same integer logits
    default, feeds = to_onnx(graph, "qoperator"), {"x": digits()[2]}
    assert "NhwcMaxPool" in {n.op_type for n in default.graph.node}
    np.testing.assert_array_equal(run_onnx(default, feeds, ["classifier:q"])["classifier:q"],
                                  run_onnx(model, feeds, ["classifier:q"])["classifier:q"])
