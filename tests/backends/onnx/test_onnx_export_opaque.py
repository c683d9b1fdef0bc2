"""Opaque `onnx.*` nodes export as the ONNX nodes they came from: attributes (without the
importer's bookkeeping), other domains, skipped optional outputs, and their opset."""
import numpy as np
import onnx
import pytest
from onnx import helper

from qcompiler.backends.onnx import OnnxExportError, to_onnx
from qcompiler.frontends.onnx import import_onnx
from qcompiler.testing.onnx_models import make_model, run_onnxruntime, tensor

from onnx_export_helpers import run_onnx


def opaque_model(opset: int) -> onnx.ModelProto:
    """An LSTM whose optional first output is skipped (only Y_h: output slot 1), Einsum
    with an attribute, and com.microsoft's Gelu."""
    nodes = [
        helper.make_node("LSTM", ["x", "w", "r"], ["", "h"], hidden_size=4, direction="forward"),
        helper.make_node("Einsum", ["x", "x"], ["gram"], equation="bij,bkj->bik"),
        helper.make_node("Gelu", ["x"], ["g"], domain="com.microsoft"),
        helper.make_node("Relu", ["g"], ["y"]),
    ]
    rng = np.random.default_rng(1)
    weights = [onnx.numpy_helper.from_array(rng.standard_normal(s).astype(np.float32), n)
               for n, s in (("w", (1, 16, 5)), ("r", (1, 16, 4)))]
    outputs = [tensor("h", [1, 3, 4]), tensor("gram", [2, 3, 3]), tensor("y", [2, 3, 5])]
    return make_model(nodes, [tensor("x", [2, 3, 5])], outputs, opset, inits=weights, domains=["com.microsoft"],
                      value_info=[tensor("g", [2, 3, 5])])


def test_opaque_nodes_export_and_run():
    original = opaque_model(12)
    graph = import_onnx(original)
    assert {n.op for n in graph.nodes if n.op.startswith("onnx.")} == {"onnx.LSTM", "onnx.Einsum",
                                                                       "onnx.com.microsoft.Gelu"}
    model = to_onnx(graph)
    assert {o.domain: o.version for o in model.opset_import} == {"": 12, "com.microsoft": 1}
    lstm = next(n for n in model.graph.node if n.op_type == "LSTM")
    assert list(lstm.output)[0] == "" and {a.name for a in lstm.attribute} == {"hidden_size", "direction"}
    x = np.random.default_rng(0).standard_normal((2, 3, 5)).astype(np.float32)
    expected = run_onnxruntime(original, {"x": x})
    got = run_onnx(model, {"x": x})
    for v, e in zip(graph.outputs, expected):
        np.testing.assert_allclose(got[v.name], e, rtol=1e-6, atol=1e-6)


def test_opaque_node_keeps_its_opset_when_its_definition_changes():
    # Mod has no catalog op; its definition changed at opset 13
    nodes = [helper.make_node("Mod", ["a", "b"], ["y"], fmod=1)]
    graph = import_onnx(make_model(nodes, [tensor("a", [3]), tensor("b", [3])], [tensor("y", [3])], 11))
    assert to_onnx(graph).opset_import[0].version == 11
    assert to_onnx(graph, opset=12).opset_import[0].version == 12  # Mod-10 is still current at 12
    with pytest.raises(OnnxExportError, match=r"'onnx.Mod'.*imported at opset 11.*differs at opset 13"):
        to_onnx(graph, opset=13)
