"""quantize{acts=dynamic}: linears become dynamic_qlinear (run-time u8 input scales,
per-channel int8 weights), equal to the reference in Numba and in onnxruntime, and to
onnxruntime's own quantize_dynamic of the same float model."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnxruntime.quantization import QuantType as OrtQuantType
from onnxruntime.quantization import quantize_dynamic

from qcompiler.backends.numba import NumbaExecutor
from qcompiler.backends.onnx import to_onnx
from qcompiler.ir.core import Graph
from qcompiler.ir.types import TensorType
from qcompiler.passes.quantize.errors import QuantizeError
from qcompiler.passes.quantize.quantize import Quantize
from qcompiler.passmanager import PassContext, PassManager
from qcompiler.runtime.reference import run_graph


def two_linears() -> Graph:
    rng = np.random.default_rng(0)
    g = Graph("mlp")
    x = g.add_input("x", TensorType("f32", ("N", 6, 16)))
    w1 = (rng.standard_normal((24, 16)) * rng.uniform(0.1, 3, (24, 1))).astype(np.float32)
    h = g.add("linear", [x, g.constant(w1, origin="w1"), g.constant(rng.standard_normal(24).astype(np.float32))],
              name="h").output
    h = g.add("gelu", [h], name="act").output
    w2 = rng.standard_normal((8, 24)).astype(np.float32)
    g.set_outputs([g.add("linear", [h, g.constant(w2, origin="w2")], name="y").output])
    return g


@pytest.fixture(scope="module")
def dynamic():
    float_graph, graph = two_linears(), two_linears()
    PassManager("quantize{acts=dynamic},lower").run(graph, PassContext())
    x = np.random.default_rng(1).standard_normal((3, 6, 16)).astype(np.float32)
    x[0, 0, 3] = 40.0  # an outlier: a static range calibrated without it would clip it
    return float_graph, graph, x


def test_linears_become_dynamic_and_track_the_float_model(dynamic):
    float_graph, graph, x = dynamic
    assert [n.op for n in graph.nodes if n.op not in ("const",)] == ["dynamic_qlinear", "gelu", "dynamic_qlinear"]
    (want,), (got,) = run_graph(float_graph, [x]), run_graph(graph, [x])
    assert np.abs(got - want).max() < 0.02 * np.abs(want).max()


def test_numba_and_onnxruntime_equal_the_reference(dynamic):
    _, graph, x = dynamic
    (want,) = run_graph(graph, [x])
    ex = NumbaExecutor(graph)
    assert ex.fallback_nodes == []  # gelu on its Numba kernel, equal to its reference bit for bit
    np.testing.assert_array_equal(ex([x])[0], want)
    for form in ("qdq", "integer"):
        model = to_onnx(graph, form)
        assert "DynamicQuantizeLinear" in {n.op_type for n in model.graph.node}
        got = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())


def test_equals_onnxruntime_quantize_dynamic(dynamic, tmp_path):
    float_graph, graph, x = dynamic
    onnx.save(to_onnx(float_graph, "float"), tmp_path / "float.onnx")
    quantize_dynamic(str(tmp_path / "float.onnx"), str(tmp_path / "dynamic.onnx"), per_channel=True,
                     weight_type=OrtQuantType.QInt8)
    theirs = ort.InferenceSession(str(tmp_path / "dynamic.onnx"), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    (ours,) = run_graph(graph, [x])
    np.testing.assert_allclose(ours, theirs[0], rtol=1e-4, atol=1e-4 * np.abs(ours).max())


def test_dynamic_takes_i8_channel_weights_only():
    with pytest.raises(QuantizeError, match="weights=i4"):
        Quantize(acts="dynamic", weights="i4")
