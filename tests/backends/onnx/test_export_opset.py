"""Export at a chosen opset: `export_onnx(..., opset=N)` on a quantized opset-9 light-zoo
model (SqueezeNet, seeded weights) and on the float PP-OCR recognizer computes what the
default export computes at every opset the form allows; below it, and for opaque ops
whose definition changed, the error names the node, the op and an opset that works (or
says that none does). Integer shape arithmetic exports at old opsets too, and an op the
checker refuses at the chosen opset is named with the opset that takes its type."""
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper

import qcompiler
from qcompiler.backends.onnx import OnnxExportError, to_onnx
from qcompiler.frontends.onnx import import_onnx
from qcompiler.runtime.reference import run_graph
from qcompiler.targets import get_target
from qcompiler.testing.light_zoo import light_images, light_model
from qcompiler.testing.onnx_models import make_model, run_onnxruntime, tensor

from onnx_export_helpers import graph_of, run_onnx

TARGET = "x86-vnni"


@pytest.fixture(scope="module")
def squeezenet():
    pipeline = get_target(TARGET).default_pipeline.replace("calibrate{method=mse}", "calibrate{method=minmax}")
    return qcompiler.compile(light_model("squeezenet"), target=TARGET, calibration=light_images(1, seed=1),
                             pipeline=pipeline, progress=False, dynamic_batch=False)


def _run(path, x) -> np.ndarray:
    model = onnx.load(path)
    return run_onnx(model, {model.graph.input[0].name: x})[model.graph.output[0].name]


@pytest.mark.parametrize("form", ["qdq", "qoperator", "integer"])
def test_quantized_light_zoo_model_exports_at_each_opset_the_form_allows(squeezenet, form, tmp_path):
    x = light_images(1, seed=2)
    default = squeezenet.export_onnx(tmp_path / "default.onnx", form=form)
    assert onnx.load(default).opset_import[0].version == 13  # imported at 9, raised for per-channel Q/DQ
    expected = _run(default, x)
    for opset in (17, 21):
        path = squeezenet.export_onnx(tmp_path / f"{opset}.onnx", form=form, opset=opset)
        assert {o.domain: o.version for o in onnx.load(path).opset_import}[""] == opset
        np.testing.assert_allclose(_run(path, x), expected, rtol=0, atol=1e-6, err_msg=f"{form} at opset {opset}")


def test_an_opset_below_what_the_form_needs_is_refused_with_the_reason(squeezenet, tmp_path):
    target = tmp_path / "m.onnx"
    with pytest.raises(OnnxExportError, match=r"form 'qdq' needs opset >= 13 \(%\S+ is quantized per channel\), "
                                              r"got opset=12"):
        squeezenet.export_onnx(target, form="qdq", opset=12)
    assert not target.exists() and not list(tmp_path.iterdir())


def test_the_recognizer_exports_at_older_and_newer_opsets():
    rapidocr = pytest.importorskip("rapidocr_onnxruntime")
    source = onnx.load(str(Path(rapidocr.__file__).parent / "models" / "ch_PP-OCRv4_rec_infer.onnx"))
    graph = import_onnx(source)
    x = np.random.default_rng(0).normal(size=(1, 3, 48, 72)).astype(np.float32)
    expected = run_onnxruntime(source, {"x": x})[0]
    for opset in (11, 21):  # imported at 12
        model = to_onnx(graph, "float", opset)
        assert model.opset_import[0].version == opset
        np.testing.assert_allclose(run_onnx(model, {"x": x})[graph.outputs[0].name], expected, rtol=0, atol=1e-5)


def _opaque(op_type: str, opset: int, outputs, **attrs):
    nodes = [helper.make_node(op_type, ["x"], [o.name for o in outputs], **attrs)]
    return import_onnx(make_model(nodes, [tensor("x", [2, 3])], outputs, opset))


def test_an_opaque_op_names_an_opset_that_carries_it():
    graph = _opaque("ReduceL2", 13, [tensor("y", [2])], axes=[1], keepdims=0)
    with pytest.raises(OnnxExportError, match=r"node 'onnx.ReduceL2' \(%y\): opaque ReduceL2 was imported at opset 13 "
                                              r"and cannot be written at opset 18: .*; export with opset=17 \(it "
                                              r"carries ReduceL2 at opsets 11-17\)"):
        to_onnx(graph, opset=18)
    assert to_onnx(graph, opset=17).opset_import[0].version == 17  # the advice works


def test_an_opaque_op_no_opset_carries_says_so():
    # TopK-1 (opset 9) has k as an attribute; from TopK-10 on it is an operand
    graph = _opaque("TopK", 9, [tensor("v", [2, 2]), tensor("i", [2, 2], onnx.TensorProto.INT64)], k=2)
    with pytest.raises(OnnxExportError, match=r"node 'onnx.TopK' \(%v, %i\): opaque TopK was imported at opset 9 and "
                                              r"cannot be written at opset 11: TopK-11 takes other operands.*; TopK as "
                                              r"imported fits no opset from 11 on: it needs a converter"):
        to_onnx(graph)


@pytest.mark.parametrize("opset", [11, 13])
@pytest.mark.parametrize("op, attrs", [("clip", {"min": 0.0, "max": 4.0}), ("relu", {}), ("maximum", {})])
def test_integer_ops_export_at_old_opsets(op, attrs, opset):
    """Shape arithmetic clamps int64: Clip / Max took no integers before opset 12, and
    ONNX Runtime has no integer Relu kernel at any opset."""
    x = np.array([[-3, 5, 2], [7, -1, 0]], np.int64)
    graph = graph_of(lambda g, a: g.add(op, [a, a] if op == "maximum" else [a], attrs).outputs, x)
    got = run_onnx(to_onnx(graph, "float", opset), {"x0": x})
    np.testing.assert_array_equal(next(iter(got.values())), run_graph(graph, [x])[0])


def test_a_checker_failure_names_the_ir_node_and_an_opset_that_takes_the_type():
    x = np.array([[2, 3]], np.int64)
    graph = graph_of(lambda g, a: g.add("pow", [a, a]).outputs, x)
    with pytest.raises(OnnxExportError, match=r"node 'pow' \(%0\): the exported float model fails the ONNX checker "
                                              r"at opset 11: .*Pow takes tensor\(int64\) from opset 12: export with "
                                              r"opset=12"):
        to_onnx(graph, "float", 11)
    np.testing.assert_array_equal(next(iter(run_onnx(to_onnx(graph, "float", 12), {"x0": x}).values())), [[4, 27]])
