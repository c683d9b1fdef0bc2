"""Fuzzing the ONNX importer with mutated real models (the PP-OCR classifier that
rapidocr_onnxruntime ships): changed op types, dangling or empty inputs, attributes out
of range, initializers of other dtypes or shapes, removed nodes, input dims made 0,
symbolic or huge, flipped bytes. Import either succeeds or raises the project's own
error; nothing else escapes, and onnx_ir's own warnings (tracebacks) stay quiet."""
import copy
import os

import numpy as np
import onnx
import pytest
import rapidocr_onnxruntime
from hypothesis import HealthCheck, given, settings, strategies as st
from onnx import AttributeProto, helper, numpy_helper

from qcompiler.cli import main
from qcompiler.frontends.onnx import import_onnx
from qcompiler.ir.errors import QIRError

CLS = os.path.join(os.path.dirname(rapidocr_onnxruntime.__file__), "models", "ch_ppocr_mobile_v2.0_cls_infer.onnx")
BASE = onnx.load(CLS)
OP_TYPES = sorted({n.op_type for n in BASE.graph.node}) + ["NoSuchOp", "LRN", "Gemm", "Flatten", "Transpose"]
ODD_INTS = [-3, -1, 0, 1, 2, 7, 10**9]
ODD_FLOATS = [float("nan"), float("inf"), -1.0, 0.0, 1e30]


def _retype_initializer(graph, draw):
    tensor = draw(st.sampled_from(list(graph.initializer)))
    array = numpy_helper.to_array(tensor)
    if array.size > 1 and draw(st.booleans()):
        array = array.reshape(-1)
    else:
        array = array.astype(draw(st.sampled_from([np.float16, np.float64, np.int64, np.int8, np.bool_])))
    tensor.CopyFrom(numpy_helper.from_array(array, tensor.name))


def _change_attribute(node, draw):
    attr = draw(st.sampled_from(list(node.attribute)))
    if attr.type == AttributeProto.INT:
        attr.i = draw(st.sampled_from(ODD_INTS))
    elif attr.type == AttributeProto.FLOAT:
        attr.f = draw(st.sampled_from(ODD_FLOATS))
    elif attr.type == AttributeProto.INTS and attr.ints:
        attr.ints[draw(st.integers(0, len(attr.ints) - 1))] = draw(st.sampled_from(ODD_INTS))


def _change_input_dim(graph, draw):
    dims = graph.input[0].type.tensor_type.shape.dim
    index = draw(st.integers(0, len(dims) - 1))
    change = draw(st.sampled_from(["zero", "symbol", "size", "drop"]))
    if change == "drop":
        del dims[index]
    elif change == "symbol":
        dims[index].dim_param = "S"
    else:
        dims[index].dim_value = 0 if change == "zero" else draw(st.sampled_from([1, 2, 5, 100000]))


@st.composite
def mutated_models(draw):
    model = copy.deepcopy(BASE)
    graph = model.graph
    for _ in range(draw(st.integers(1, 3))):
        node = graph.node[draw(st.integers(0, len(graph.node) - 1))]
        kind = draw(st.sampled_from(["op", "input", "attr", "drop_attr", "add_attr", "initializer",
                                     "drop_initializer", "dim", "drop_node"]))
        if kind == "op":
            node.op_type = draw(st.sampled_from(OP_TYPES))
        elif kind == "input" and node.input:
            other = graph.node[draw(st.integers(0, len(graph.node) - 1))].output[0]
            node.input[draw(st.integers(0, len(node.input) - 1))] = draw(st.sampled_from(["", "nope", other]))
        elif kind == "attr" and node.attribute:
            _change_attribute(node, draw)
        elif kind == "drop_attr" and node.attribute:
            del node.attribute[draw(st.integers(0, len(node.attribute) - 1))]
        elif kind == "add_attr":
            node.attribute.append(helper.make_attribute(draw(st.sampled_from(["axis", "group", "mode", "perm"])),
                                                        draw(st.sampled_from([1, -5, 2.5, "x", [0, 1]]))))
        elif kind == "initializer" and graph.initializer:
            _retype_initializer(graph, draw)
        elif kind == "drop_initializer" and graph.initializer:
            del graph.initializer[draw(st.integers(0, len(graph.initializer) - 1))]
        elif kind == "dim":
            _change_input_dim(graph, draw)
        elif kind == "drop_node":
            graph.node.remove(node)
    return model


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_models())
def test_a_mutated_real_model_imports_or_is_a_frontend_error(model):
    try:
        import_onnx(model)
    except QIRError:
        pass


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 2**31), st.integers(0, 255)), min_size=1, max_size=8))
def test_flipped_bytes_import_or_are_a_frontend_error(tmp_path_factory, flips):
    data = bytearray(BASE.SerializeToString())
    for position, value in flips:
        data[position % len(data)] = value
    path = tmp_path_factory.mktemp("flipped") / "model.onnx"
    path.write_bytes(bytes(data))
    try:
        import_onnx(path)
    except QIRError:
        pass


def test_a_dangling_input_is_one_error_line_without_onnx_ir_warnings(tmp_path, capsys):
    model = copy.deepcopy(BASE)
    conv = [n for n in model.graph.node if n.op_type == "Conv"][3]
    conv.input[0] = "nope"
    onnx.save(model, tmp_path / "dangling.onnx")
    assert main(["inspect", str(tmp_path / "dangling.onnx")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "uses 'nope', which no node, input or initializer defines" in err


@pytest.mark.parametrize("size", [0, 100000])
def test_an_empty_or_huge_batch_dim_is_kept_without_allocating_it(size):
    model = copy.deepcopy(BASE)
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = size
    assert import_onnx(model).inputs[0].type.shape[0] == size
