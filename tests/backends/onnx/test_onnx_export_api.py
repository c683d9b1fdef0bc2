"""export() / to_onnx(): the default form per graph kind, files, value names, and clear
errors for what a form or opset cannot express."""
import numpy as np
import onnx
import pytest

from qcompiler.backends.onnx import OnnxExportError, default_form, export, to_onnx
from qcompiler.ir import Graph
from qcompiler.ir.types import MinifloatType, f32

from onnx_export_helpers import run_onnx
from onnx_export_quantized import digits_graph, mixed_graph, mixed_net, normal, reference_storage


def relu_graph() -> Graph:
    g = Graph("tiny")
    x = g.add_input("x", f32(2, 3))
    g.set_outputs([g.add("relu", [x], name="y").output])
    return g


def test_default_form_follows_the_graph():
    assert default_form(mixed_net()) == "float"
    assert default_form(mixed_graph("generic", lower=False)) == "qdq"
    assert default_form(mixed_graph("generic", lower=True)) == "integer"


def test_export_writes_the_checked_model(tmp_path):
    path = tmp_path / "tiny.onnx"
    model = export(relu_graph(), path)
    assert onnx.load(path) == model
    assert [i.name for i in model.graph.input] == ["x"] and [o.name for o in model.graph.output] == ["y"]
    onnx.checker.check_model(model, full_check=True)


def test_outputs_that_are_inputs_constants_or_repeated():
    g = Graph("outs")
    x = g.add_input("x", f32(2, 3))
    c = g.constant(np.full((2, 3), 2.0, np.float32), name="c", origin="two")
    y = g.add("identity", [x], name="y").output
    g.set_outputs([x, c, y, y])
    model = to_onnx(g)
    assert [o.name for o in model.graph.output] == ["x", "c", "y", "y_1"]
    got = run_onnx(model, {"x": np.ones((2, 3), np.float32)})
    assert got["c"].tolist() == [[2.0] * 3] * 2 and got["y_1"].tolist() == [[1.0] * 3] * 2


def test_quantized_values_are_named_after_the_ir():
    graph = mixed_graph("x86-avx2", lower=True)
    model = to_onnx(graph, "integer")
    produced = {o for n in model.graph.node for o in n.output}
    _, storage = reference_storage(graph, {"x": normal(1, 4, 8, 8)})
    assert {f"{name}:q" for name in storage} <= produced
    # weights are named after their origin; the transposed copy MatMulInteger takes too
    assert {"conv1.weight", "fc.weight:transposed"} <= {i.name for i in model.graph.initializer}
    assert [o.name for o in model.graph.output] == [v.name for v in graph.outputs]
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"  # the symbolic batch


@pytest.mark.parametrize("form,opset,message", [
    ("qlinear", None, r"unknown export form 'qlinear'; expected one of float, qdq, qoperator, integer"),
    ("float", 9, r"needs opset >= 11, got opset=9"),
])
def test_bad_options(form, opset, message):
    with pytest.raises(OnnxExportError, match=message):
        to_onnx(relu_graph(), form, opset)


def test_lowered_forms_need_opset_13():
    with pytest.raises(OnnxExportError, match=r"form 'integer' needs opset >= 13 \(.*\), got opset=12"):
        to_onnx(mixed_graph("x86-avx2", lower=True), "integer", 12)


def test_forms_name_the_graph_they_take():
    with pytest.raises(OnnxExportError, match=r"'quantize'.*the graph is quantized; export it with form='qdq'"):
        to_onnx(mixed_graph("generic", lower=False), "float")
    with pytest.raises(OnnxExportError, match=r"'qconv2d'.*form 'qdq' exports the fake-quant graph \(after `quantize`\)"):
        to_onnx(mixed_graph("x86-avx2", lower=True), "qdq")


def test_minifloat_activations_onnx_cannot_round_to_are_refused_by_name():
    g = Graph("fp8")
    x = g.add_input("x", MinifloatType("e4m3", "f32", (2, 4)))  # E4M3 with Inf/NaN: not ONNX's E4M3FN
    w = g.constant(np.ones((3, 4), np.float32), name="w")
    g.set_outputs([g.add("linear", [x, w], name="y").output])
    with pytest.raises(OnnxExportError, match=r"activation %x is e4m3 \(ieee, bias 7\): ONNX rounds only to FLOAT8E4M3FN"):
        to_onnx(g, "qdq")


def test_asymmetric_8_bit_conv_weights_have_no_integer_form():
    """ONNX Runtime's ConvInteger takes one weight zero point; the QLinearConv of the
    qoperator form takes one per channel."""
    graph = digits_graph("generic", lower=True, quantize_options="symmetric=false")
    with pytest.raises(OnnxExportError, match=r"node 'qconv2d'.*per-channel zero points.*ConvInteger takes one"):
        to_onnx(graph, "integer")
    assert "QLinearConv" in {n.op_type for n in to_onnx(graph, "qoperator").graph.node}


def test_asymmetric_4_bit_conv_weights_are_centred():
    graph = mixed_graph("generic", lower=True, quantize_options="weights=i4,symmetric=false")
    model = to_onnx(graph, "integer")
    x = normal(2, 4, 8, 8)
    outputs, storage = reference_storage(graph, {"x": x})
    got = run_onnx(model, {"x": x}, [f"{name}:q" for name in storage])
    for name, want in storage.items():
        np.testing.assert_array_equal(got[f"{name}:q"], want, err_msg=name)
