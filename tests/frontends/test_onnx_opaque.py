"""Ops the catalog lacks stay opaque `onnx.*` nodes that keep their attributes and still
run; control flow and inconsistent models are errors naming the node; initializers and
Constant nodes become consts."""
import numpy as np
import pytest
from onnx import TensorProto, helper

from qcompiler.frontends.onnx import import_onnx
from qcompiler.ir import FrontendError
from qcompiler.runtime.reference import run_graph
from qcompiler.testing.onnx_models import floats, import_and_compare as check, make_model as model
from qcompiler.testing.onnx_models import opaque_ops as opaque, tensor as t

F = TensorProto.FLOAT
RNG = np.random.default_rng(0)


def x(*shape):
    return RNG.standard_normal(shape).astype(np.float32)



def test_unknown_op_stays_opaque_keeps_attributes_and_runs():
    nodes = [helper.make_node("Relu", ["x"], ["r"]),
             helper.make_node("Hardmax", ["r"], ["h"], axis=0),
             helper.make_node("ThresholdedRelu", ["x"], ["tr"], alpha=0.3),
             helper.make_node("Add", ["h", "tr"], ["y"])]
    m = model(nodes, [t("x", ["N", 6])], [t("y", ["N", 6])], 17)
    g, report = import_onnx(m, report=True)
    assert opaque(g) == ["onnx.Hardmax", "onnx.ThresholdedRelu"]
    assert {r.op for r in report} == {"onnx.Hardmax", "onnx.ThresholdedRelu"}
    (h,) = [n for n in g.nodes if n.op == "onnx.Hardmax"]
    assert h.attrs == {"axis": 0} and h.output.type.shape == ("N", 6)
    assert g.opset_imports == {"": 17}
    check(m, {"x": x(4, 6)})


def test_unknown_op_without_a_known_result_type_is_named():
    node = helper.make_node("Frobnicate", ["x"], ["y"], name="frob", domain="example.org")
    m = model([node, helper.make_node("Relu", ["y"], ["z"])], [t("x", [2])], [t("z", None)], 17,
              domains=["example.org"])
    with pytest.raises(FrontendError, match=r"node 'frob' \(Frobnicate\): stays opaque \(domain 'example.org'\), "
                                            r"but ONNX shape inference gives no type and rank for its output 'y'"):
        import_onnx(m)


def test_custom_domain_op_is_domain_qualified_and_takes_declared_types():
    node = helper.make_node("FastGelu", ["x"], ["y"], domain="com.microsoft")
    m = model([node], [t("x", [2, 8])], [t("y", [2, 8])], 17, domains=["com.microsoft"])
    g = check(m, {"x": x(2, 8)}, tol=1e-4)
    assert opaque(g) == ["onnx.com.microsoft.FastGelu"] and g.opset_imports["com.microsoft"] == 1


def test_opaque_op_with_a_skipped_leading_output_runs():
    # an LSTM whose sequence output Y is not requested: only Y_h (output 1) is produced
    hidden, inp = 3, 4
    node = helper.make_node("LSTM", ["x", "W", "R"], ["", "h"], hidden_size=hidden)
    inits = [floats("W", x(1, 4 * hidden, inp)), floats("R", x(1, 4 * hidden, hidden))]
    m = model([node], [t("x", [5, 2, inp])], [t("h", [1, 2, hidden])], 14, inits=inits)
    g = check(m, {"x": x(5, 2, inp)}, tol=1e-5)
    (lstm,) = [n for n in g.nodes if n.op == "onnx.LSTM"]
    assert lstm.attrs["onnx.output_slots"] == [1] and len(lstm.outputs) == 1


def test_control_flow_is_rejected_naming_the_node():
    branch = helper.make_graph([helper.make_node("Identity", ["x"], ["o"])], "b", [], [t("o", [2])])
    node = helper.make_node("If", ["c"], ["y"], name="the_if", then_branch=branch, else_branch=branch)
    m = model([node], [t("c", [], TensorProto.BOOL), t("x", [2])], [t("y", [2])], 17)
    with pytest.raises(FrontendError, match="the_if.*subgraph"):
        import_onnx(m)


def test_inconsistent_shapes_error_names_the_node():
    node = helper.make_node("MatMul", ["a", "b"], ["y"], name="bad_matmul")
    m = model([node], [t("a", [2, 3]), t("b", [4, 5])], [t("y", None)], 17)
    with pytest.raises(FrontendError, match="bad_matmul"):
        import_onnx(m)


def test_declared_shape_of_another_rank_is_an_error_naming_the_node():
    node = helper.make_node("Relu", ["x"], ["r"], name="the_relu")
    m = model([node, helper.make_node("Neg", ["r"], ["y"])], [t("x", [2, 3])], [t("y", None)], 17,
              value_info=[t("r", [6])])
    with pytest.raises(FrontendError, match="the_relu.*'r'.*f32\\[2,3\\].*f32\\[6\\]"):
        import_onnx(m)


# --- constants ----------------------------------------------------------------------

def test_graph_inputs_that_are_initializers_are_constants():
    node = helper.make_node("Add", ["x", "w"], ["y"])
    m = model([node], [t("x", [3]), t("w", [3])], [t("y", [3])], 9, inits=[floats("w", [1, 2, 3])], ir_version=3)
    g = import_onnx(m)
    assert [v.name for v in g.inputs] == ["x"]
    (w,) = [n for n in g.nodes if n.op == "const"]
    assert w.attrs["origin"] == "w"
    np.testing.assert_array_equal(run_graph(g, [np.zeros(3, np.float32)])[0], [1, 2, 3])


def test_constant_nodes_become_consts():
    nodes = [helper.make_node("Constant", [], ["k"], value=floats("kv", [[2.0, 3.0]])),
             helper.make_node("Constant", [], ["s"], value_ints=[3, 4]),
             helper.make_node("Mul", ["x", "k"], ["m"]),
             helper.make_node("Reshape", ["m", "s"], ["y"])]
    m = model(nodes, [t("x", [2, 3, 1])], [t("y", [3, 4])], 13)
    g = check(m, {"x": x(2, 3, 1)})
    consts = {n.output.name: n for n in g.nodes if n.op == "const"}
    assert consts["k"].attrs["origin"] == "k" and "origin" not in consts["s"].attrs
    assert g.outputs[0].type.shape == (3, 4)  # reshape read the constant shape


def test_opaque_nodes_round_trip_through_the_text_form_and_still_run():
    from qcompiler.ir.equality import graph_diff
    from qcompiler.ir.parser import parse
    from qcompiler.ir.printer import print_graph

    hidden = 3
    nodes = [helper.make_node("LSTM", ["x", "W", "R"], ["", "h"], hidden_size=hidden, activation_alpha=[1.0, 1.0, 1.0]),
             helper.make_node("FastGelu", ["h"], ["g"], domain="com.microsoft"),
             helper.make_node("ConstantOfShape", ["s"], ["c"], value=floats("v", [0.5])),
             helper.make_node("Add", ["g", "c"], ["y"])]
    inits = [floats("W", x(1, 4 * hidden, 4)), floats("R", x(1, 4 * hidden, hidden)),
             helper.make_tensor("s", TensorProto.INT64, [3], [1, 2, hidden])]
    m = model(nodes, [t("x", [5, 2, 4])], [t("y", [1, 2, hidden])], 14, inits=inits,
              value_info=[t("g", [1, 2, hidden])], domains=["com.microsoft"])
    g = import_onnx(m)
    assert opaque(g) == ["onnx.LSTM", "onnx.com.microsoft.FastGelu"]
    blobs = []
    parsed = parse(print_graph(g, blobs), blobs)
    assert graph_diff(g, parsed) is None and parsed.opset_imports == g.opset_imports
    feed = x(5, 2, 4)
    np.testing.assert_array_equal(run_graph(parsed, [feed])[0], run_graph(g, [feed])[0])
