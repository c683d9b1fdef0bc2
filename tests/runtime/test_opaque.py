"""Opaque `onnx.*` nodes run through onnxruntime on a one-node model."""
import numpy as np
import pytest
from scipy import special

from qcompiler.ir import Graph, TensorType
from qcompiler.ir.core import Node
from qcompiler.ir.dense import Dense
from qcompiler.runtime import opaque
from qcompiler.runtime.opaque import build_one_node_model, run_opaque
from qcompiler.runtime.reference import ExecutionError, run_graph


def one_node(op, attrs, in_types, out_types, opset=None):
    g = Graph("t")
    g.opset_imports = opset or {"": 17}
    ins = [g.add_input(f"x{i}", t) for i, t in enumerate(in_types)]
    node = g.append(Node(op, ins, out_types, attrs))
    g.set_outputs(node.outputs)
    return g, node


def test_runs_a_standard_op_with_its_attributes():
    g, node = one_node("onnx.Hardmax", {"axis": 0}, [TensorType("f32", ("N", 3))], [TensorType("f32", ("N", 3))])
    x = np.array([[1, 5, 0], [2, 1, 7]], np.float32)
    (y,) = run_opaque(node, [x])
    np.testing.assert_array_equal(y, [[0, 1, 0], [1, 0, 1]])


def test_sessions_are_shared_by_nodes_with_the_same_signature():
    opaque._sessions.clear()
    t = TensorType("f32", ("N", 4))
    _, a = one_node("onnx.Shrink", {"lambd": 0.5}, [t], [t])
    _, b = one_node("onnx.Shrink", {"lambd": 0.5}, [t], [t])
    _, c = one_node("onnx.Shrink", {"lambd": 0.25}, [t], [t])
    x = np.linspace(-1, 1, 8, dtype=np.float32).reshape(2, 4)
    run_opaque(a, [x])
    run_opaque(b, [x[:1]])  # another batch size: same session (dims are symbolic)
    assert len(opaque._sessions) == 1
    (y,) = run_opaque(c, [x])
    assert len(opaque._sessions) == 2
    np.testing.assert_allclose(y, np.where(np.abs(x) > 0.25, x, 0))


def test_float_attribute_stored_as_int_follows_the_schema():
    # a printed/parsed `alpha=1` comes back as a Python int; ONNX wants a FLOAT attribute
    t = TensorType("f32", (4,))
    _, node = one_node("onnx.ThresholdedRelu", {"alpha": 1}, [t], [t])
    attr = build_one_node_model(node, [np.zeros(4, np.float32)], {"": 17}).graph.node[0].attribute[0]
    assert attr.type == attr.FLOAT
    (y,) = run_opaque(node, [np.array([0.5, 1.0, 1.5, 3.0], np.float32)])
    np.testing.assert_array_equal(y, [0, 0, 1.5, 3.0])


def test_tensor_attribute_and_missing_optional_input():
    t = TensorType("f32", (2, 3))
    _, node = one_node("onnx.ConstantOfShape", {"value": Dense(np.array([2.5], np.float32))},
                       [TensorType("i64", (2,))], [t])
    np.testing.assert_array_equal(run_opaque(node, [np.array([2, 3])])[0], np.full((2, 3), 2.5, np.float32))
    # Clip with only a max: the absent min is an empty input name in the ONNX node
    _, clip = one_node("onnx.Clip", {}, [t, TensorType("f32", ())], [t])
    clip.set_inputs([clip.inputs[0], None, clip.inputs[1]])
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(run_opaque(clip, [x, None, np.float32(2.0)])[0], np.minimum(x, 2))


def test_custom_domain_op_runs_with_its_opset():
    t = TensorType("f32", (3,))
    _, node = one_node("onnx.com.microsoft.Gelu", {}, [t], [t], opset={"": 17, "com.microsoft": 1})
    x = np.array([-1.0, 0.0, 2.0], np.float32)
    expected = x * 0.5 * (1 + special.erf(x / np.sqrt(2)))
    np.testing.assert_allclose(run_opaque(node, [x])[0], expected, rtol=1e-5, atol=1e-6)


def test_reference_interpreter_dispatches_opaque_nodes():
    g, _ = one_node("onnx.Hardmax", {"axis": -1}, [TensorType("f32", (1, 3))], [TensorType("f32", (1, 3))])
    np.testing.assert_array_equal(run_graph(g, [np.array([[0, 3, 1]], np.float32)])[0], [[0, 1, 0]])


def test_an_op_onnxruntime_does_not_know_is_an_error_naming_the_node():
    t = TensorType("f32", (3,))
    _, node = one_node("onnx.NoSuchOp", {}, [t], [t])
    with pytest.raises(ExecutionError, match="onnx.NoSuchOp.*NoSuchOp"):
        run_opaque(node, [np.zeros(3, np.float32)])
