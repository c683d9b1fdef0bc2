"""Names the IR cannot spell ("gpu_0/data_0") are kept for the model's interface: in the
text form, in every export, and for CompiledModel calls by name."""
import numpy as np
import onnx
import pytest
from onnx import helper

import qcompiler
from qcompiler.backends.onnx import to_onnx
from qcompiler.frontends.onnx import import_onnx
from qcompiler.ir.equality import graph_diff
from qcompiler.ir.errors import QIRError
from qcompiler.ir.parser import parse
from qcompiler.ir.printer import print_graph
from qcompiler.testing.onnx_models import floats, make_model, tensor

from onnx_export_helpers import run_onnx


def slashed_model():
    rng = np.random.default_rng(0)
    nodes = [helper.make_node("Conv", ["gpu_0/data_0", "gpu_0/w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["gpu_0/relu:1"])]
    return make_model(nodes, [tensor("gpu_0/data_0", [1, 2, 6, 6])], [tensor("gpu_0/relu:1", [1, 3, 6, 6])], 13,
                      inits=[floats("gpu_0/w", rng.standard_normal((3, 2, 3, 3)))])


def test_source_names_survive_the_text_form_and_name_the_float_export():
    graph = import_onnx(slashed_model())
    assert [v.name for v in graph.inputs] == ["gpu_0_data_0"]
    assert graph.source_names == {"inputs": ["gpu_0/data_0"], "outputs": ["gpu_0/relu:1"]}
    blobs = []
    assert graph_diff(parse(print_graph(graph, blobs), blobs), graph) is None
    model = to_onnx(graph)
    assert [v.name for v in model.graph.input] == ["gpu_0/data_0"]
    assert [v.name for v in model.graph.output] == ["gpu_0/relu:1"]


def test_source_names_must_match_the_signature():
    text = ('graph @g(%x: f32[2]) -> (f32[2]) attributes {source_names={inputs=["a/x", "b"]}} {\n'
            '  %y = relu(%x) : f32[2]\n  return %y\n}\n')
    with pytest.raises(QIRError, match=r"source_names must be \{inputs = \[1 strings\], outputs = \[1 strings\]\}"):
        parse(text)


@pytest.fixture(scope="module")
def compiled():
    x = np.random.default_rng(1).standard_normal((2, 2, 6, 6)).astype(np.float32)
    return qcompiler.compile(slashed_model(), target="x86-vnni", calibration=x, progress=False,
                             dynamic_batch=False), x[:1]


@pytest.mark.parametrize("form", ["qdq", "qoperator", "integer"])
def test_quantized_exports_keep_the_source_names(compiled, form, tmp_path):
    cm, x = compiled
    cm.export_onnx(tmp_path / "m.onnx", form=form)
    model = onnx.load(tmp_path / "m.onnx")
    assert [v.name for v in model.graph.input] == ["gpu_0/data_0"]
    assert [v.name for v in model.graph.output] == ["gpu_0/relu:1"]
    got = run_onnx(model, {"gpu_0/data_0": x})["gpu_0/relu:1"]
    np.testing.assert_allclose(got, cm(x), atol=0.05 * np.abs(cm(x)).max())


def test_compiled_model_takes_inputs_by_source_or_ir_name(compiled):
    cm, x = compiled
    np.testing.assert_array_equal(cm({"gpu_0/data_0": x}), cm(x))
    np.testing.assert_array_equal(cm({"gpu_0_data_0": x}), cm(x))
    with pytest.raises(QIRError, match=r"takes inputs 'gpu_0/data_0'; unknown: 'data'"):
        cm({"data": x})
