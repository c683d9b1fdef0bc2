"""ONNX models that parse as protobuf but are broken inside: each import fails with one
FrontendError naming the node, value or input at fault (files that do not parse at all
are in test_onnx_files.py)."""
import numpy as np
import pytest
from onnx import helper

from qcompiler.frontends import onnx_ops
from qcompiler.frontends.onnx import import_onnx
from qcompiler.ir import FrontendError
from qcompiler.testing.onnx_models import floats, make_model, tensor


def relu(name: str, inputs, output: str):
    return helper.make_node("Relu", list(inputs), [output], name=name)


@pytest.mark.parametrize("model, message", [
    (make_model([relu("r", ["nope"], "y")], [tensor("x", [2])], [tensor("y", [2])], 17),
     "node 'r' (Relu) uses 'nope', which no node, input or initializer defines"),
    (make_model([relu("r", ["x"], "y")], [tensor("x", [2])], [tensor("z", [2])], 17),
     "graph output uses 'z', which no node, input or initializer defines"),
    (make_model([helper.make_node("Conv", ["x"], ["y"], name="c")], [tensor("x", [1, 1, 4, 4])],
                [tensor("y", [1, 1, 4, 4])], 17),
     "node 'c' (Conv): required input 1 is missing (Conv-11 takes at least 2)"),
    (make_model([helper.make_node("Conv", ["x", "", "b"], ["y"], name="c")], [tensor("x", [1, 1, 4, 4])],
                [tensor("y", [1, 1, 4, 4])], 17, inits=[floats("b", [0.0])]),
     "node 'c' (Conv): required input 1 is missing"),
    (make_model([relu("r", ["x", "x"], "y")], [tensor("x", [2])], [tensor("y", [2])], 17),
     "node 'r' (Relu): 2 inputs, but Relu-14 takes at most 1"),
    (make_model([helper.make_node("Add", ["x", "b"], ["a"], name="n1"), relu("n2", ["a"], "b")],
                [tensor("x", [2])], [tensor("b", [2])], 17),
     "the graph has a cycle: node 'n1' (Add) -> node 'n2' (Relu) -> node 'n1' (Add)"),
    (make_model([helper.make_node("Add", ["x", "w"], ["y"], name="a")], [tensor("x", [2, 3])], [tensor("y", None)],
                17, inits=[floats("w", np.ones(4))]),
     "node 'a' (Add): shapes [2, 3] and [4] do not broadcast"),
])
def test_broken_graph_is_one_error_naming_the_place(model, message):
    with pytest.raises(FrontendError) as info:
        import_onnx(model)
    assert str(info.value).startswith("<onnx.ModelProto>: ") and message in str(info.value)


def test_input_shape_of_the_wrong_rank_is_named():
    model = make_model([relu("r", ["x"], "y")], [tensor("x", [1, 3, 8, 8])], [tensor("y", None)], 17)
    with pytest.raises(FrontendError, match=r"input 'x' has rank 4, input_shapes gives \[8, 8\]"):
        import_onnx(model, input_shapes={"x": [8, 8]})


@pytest.mark.parametrize("dim", [None, 2.5, True])
def test_input_shape_dim_that_is_neither_int_nor_symbol_is_named(dim):
    model = make_model([relu("r", ["x"], "y")], [tensor("x", [1, 3])], [tensor("y", None)], 17)
    with pytest.raises(FrontendError, match=r"input_shapes\['x'\]: a dim must be an int or a string"):
        import_onnx(model, input_shapes={"x": [dim, 3]})


def test_a_converter_crash_names_the_node(monkeypatch):
    def crash(node):
        raise KeyError("surprise")

    monkeypatch.setitem(onnx_ops.CONVERTERS, "Relu", crash)
    model = make_model([relu("the_relu", ["x"], "y")], [tensor("x", [2])], [tensor("y", [2])], 17)
    with pytest.raises(FrontendError, match=r"node 'the_relu' \(Relu\): cannot convert: KeyError: 'surprise'"):
        import_onnx(model)
