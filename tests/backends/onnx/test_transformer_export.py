"""The qoperator form of a transformer block's pieces in the spelling onnxruntime runs
fastest: GELU as its one-kernel Gelu / FastGelu, the shape of a quantized value read from
its storage, one shape computation for the QGemm projections that share an input."""
import numpy as np
import pytest

from qcompiler.backends.onnx import to_onnx
from qcompiler.passmanager import PassContext, PassManager
from qcompiler.runtime.reference import run_graph

from onnx_export_helpers import graph_of, run_onnx

SEQ, WIDTH = 6, 16


def block(approximate: str):
    """x -> q, k, v projections of one input; gelu(q) kept float; shape of k."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, SEQ, WIDTH)).astype(np.float32)

    def body(g, x):
        outs = []
        for name in ("q", "k", "v"):
            w = g.constant(rng.standard_normal((WIDTH, WIDTH)).astype(np.float32) / 4, origin=f"{name}.weight")
            b = g.constant(rng.standard_normal(WIDTH).astype(np.float32), origin=f"{name}.bias")
            outs.append(g.add("linear", [x, w, b], name=name).output)
        act = g.add("gelu", [outs[0]], {"approximate": approximate, "q.keep_float": True}, name="act").output
        return [act, g.add("shape", [outs[1]], name="k_shape").output, outs[2]]

    graph = graph_of(body, x, shapes=[("N", "S", WIDTH)])
    calibration = [rng.standard_normal((2, SEQ, WIDTH)).astype(np.float32) for _ in range(4)]
    PassManager("calibrate{method=minmax},quantize,lower").run(graph, PassContext(calibration=calibration))
    return graph, x


@pytest.mark.parametrize("approximate, kernel", [("none", "Gelu"), ("tanh", "FastGelu")])
def test_gelu_is_onnxruntimes_kernel_and_matches_the_reference(approximate, kernel):
    graph, x = block(approximate)
    model = to_onnx(graph, "qoperator", opset=17)  # before ONNX's own Gelu (opset 20)
    ops = [(n.domain, n.op_type) for n in model.graph.node]
    assert ("com.microsoft", kernel) in ops and ("", "Erf") not in ops and ("", "Tanh") not in ops
    want = run_graph(graph, [x])
    got = run_onnx(model, {"x0": x})
    act = [v for k, v in got.items() if k not in ("k_shape",)][0]
    np.testing.assert_allclose(act, want[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(list(got.values())[1], want[1])


def test_the_integer_form_keeps_the_portable_formula():
    graph, _ = block("none")
    ops = {n.op_type for n in to_onnx(graph, "integer", opset=17).graph.node}
    assert "Erf" in ops and "Gelu" not in ops


def test_shapes_come_from_storage_and_projections_share_one():
    graph, _ = block("none")
    model = to_onnx(graph, "qoperator")
    readers = {}
    for n in model.graph.node:
        for name in n.input:
            readers.setdefault(name, []).append(n.op_type)
    measured_only = [n.output[0] for n in model.graph.node
                     if n.op_type == "DequantizeLinear" and readers.get(n.output[0]) == ["Shape"]]
    assert measured_only == []
    # one Shape for the three QGemm results (same input, same width) and one for the shape op
    assert [n.op_type for n in model.graph.node].count("Shape") == 2
