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


def test_opaque_node_is_written_at_the_export_opset_when_only_unused_types_changed():
    # Mod has no catalog op; Mod-13 differs from Mod-10 only in admitting bfloat16
    nodes = [helper.make_node("Mod", ["a", "b"], ["y"], fmod=1)]
    graph = import_onnx(make_model(nodes, [tensor("a", [3]), tensor("b", [3])], [tensor("y", [3])], 11))
    assert to_onnx(graph).opset_import[0].version == 11
    model = to_onnx(graph, opset=13)
    assert model.opset_import[0].version == 13
    a, b = np.array([5.5, -3.0, 7.0], np.float32), np.array([2.0, 2.0, -4.0], np.float32)
    np.testing.assert_array_equal(run_onnx(model, {"a": a, "b": b})["y"], np.fmod(a, b))


def test_opaque_node_keeps_its_opset_when_its_operands_change():
    # ReduceL2-18 takes the axes as an operand where ReduceL2-13 has an attribute
    nodes = [helper.make_node("ReduceL2", ["x"], ["y"], axes=[1], keepdims=0)]
    graph = import_onnx(make_model(nodes, [tensor("x", [2, 3])], [tensor("y", [2])], 13))
    assert to_onnx(graph, opset=17).opset_import[0].version == 17  # ReduceL2-13 is current until 18
    with pytest.raises(OnnxExportError, match=r"'onnx.ReduceL2'.*imported at opset 13 and cannot be written at "
                                              r"opset 18: ReduceL2-18 takes other operands.*export with opset=17"):
        to_onnx(graph, opset=18)


def test_opaque_node_keeps_its_opset_when_the_older_definition_lacks_its_type():
    nodes = [helper.make_node("Mod", ["a", "b"], ["y"], fmod=1)]
    bf16 = [tensor("a", [3], onnx.TensorProto.BFLOAT16), tensor("b", [3], onnx.TensorProto.BFLOAT16)]
    graph = import_onnx(make_model(nodes, bf16, [tensor("y", [3], onnx.TensorProto.BFLOAT16)], 13))
    with pytest.raises(OnnxExportError, match=r"operand 0 is tensor\(bfloat16\), which Mod-10 does not take"):
        to_onnx(graph, opset=12)


def test_pass_decisions_on_opaque_nodes_reach_neither_onnxruntime_nor_the_export():
    from qcompiler.runtime.reference import run_graph

    nodes = [helper.make_node("ReduceL2", ["x"], ["n"], axes=[1], keepdims=1), helper.make_node("Relu", ["n"], ["y"])]
    graph = import_onnx(make_model(nodes, [tensor("x", [2, 3])], [tensor("y", [2, 1])], 13))
    reduce = next(n for n in graph.nodes if n.op == "onnx.ReduceL2")
    reduce.attrs.update({"q.range": [0.0, 4.0], "q.method": "minmax"})  # what calibrate writes
    x = np.array([[3.0, 4.0, 0.0], [1.0, 2.0, 2.0]], np.float32)
    np.testing.assert_allclose(run_graph(graph, {"x": x})[0], [[5.0], [3.0]], rtol=1e-6)
    model = to_onnx(graph)
    written = next(n for n in model.graph.node if n.op_type == "ReduceL2")
    assert {a.name for a in written.attribute} == {"axes", "keepdims"}
    np.testing.assert_allclose(run_onnx(model, {"x": x})["y"], [[5.0], [3.0]], rtol=1e-6)
