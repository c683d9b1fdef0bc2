"""Graph, Node and Value: the mutation API keeps uses, order, names and input attributes
consistent, and refuses what would break the graph with an error naming the node."""
import numpy as np
import pytest

from qcompiler.ir import Graph, Node, TensorType, UnknownOpError, VerifyError, parse, print_graph, verify
from qcompiler.ir.equality import graph_diff


def small_graph():
    g = Graph("g")
    x = g.add_input("x", TensorType("f32", ("N", 4)))
    k = g.constant(np.full((4,), 2.0, np.float32), name="k")
    m = g.add("mul", [x, k], name="m")
    r = g.add("relu", [m.output], name="r")
    g.set_outputs([r.output])
    return g


def test_add_infers_types_and_records_uses():
    g = small_graph()
    verify(g)
    m, r = g.find("m"), g.find("r")
    assert m.type == TensorType("f32", ("N", 4))
    assert m.uses == [(r.producer, 0)] and m.users == [r.producer]
    assert [n.op for n in g.nodes] == ["const", "mul", "relu"]


def test_constants_go_to_the_top_unless_placed():
    g = small_graph()
    g.constant(np.zeros(1, np.float32), name="first")
    g.constant(np.zeros(1, np.float32), name="placed", before=g.find("r").producer)
    assert [v.name for n in g.nodes for v in n.outputs] == ["first", "k", "m", "placed", "r"]


def test_unknown_op_is_named_with_a_suggestion():
    g = small_graph()
    with pytest.raises(UnknownOpError, match="unknown op 'rleu'; did you mean 'relu'"):
        g.add("rleu", [g.find("x")])


def test_erase_refuses_a_value_still_in_use():
    g = small_graph()
    with pytest.raises(VerifyError, match=r"cannot erase 'mul' \(%m\): %m is still used by 'relu' \(%r\)"):
        g.erase(g.find("m").producer)
    with pytest.raises(VerifyError, match=r"cannot erase 'relu' \(%r\): %r is still used by graph output"):
        g.erase(g.find("r").producer)


def test_replace_all_uses_with_moves_graph_outputs_too():
    g = small_graph()
    r = g.find("r")
    assert r.replace_all_uses_with(g.find("m")) == 1
    assert g.outputs == [g.find("m")]
    g.erase(r.producer)
    verify(g)
    assert g.op_counts() == {"const": 1, "mul": 1}


def test_replacing_a_graph_input_moves_it_out_of_the_graph_outputs_too():
    g = Graph("g")
    x = g.add_input("x", TensorType("f32", (4,)))
    r = g.add("relu", [x], name="r")
    g.set_outputs([x, r.output])
    y = g.add_input("y", TensorType("f32", (4,)))
    assert x.replace_all_uses_with(y) == 2
    assert g.outputs == [y, r.output] and r.inputs == (y,)
    verify(g)


def test_topo_sort_of_a_node_reading_another_graph_is_no_cycle():
    g, other = small_graph(), small_graph()
    stray = g.add("relu", [other.find("m")], name="stray")
    g.topo_sort()
    assert g.nodes[-1] is stray
    with pytest.raises(VerifyError, match=r"input 0 %m is used before it is defined .*from another graph"):
        verify(g)


def test_topo_sort_restores_order_and_names_a_node_on_a_cycle():
    g = small_graph()
    m = g.find("m")
    late = Node("sigmoid", [m], [m.type], output_names=["s"])
    g.insert_before(m.producer, late)  # placed before the %m it reads
    g.set_outputs([late.output])
    with pytest.raises(VerifyError, match=r"node 'sigmoid' \(%s\): input 0 %m is used before it is defined"):
        verify(g)
    g.topo_sort()
    verify(g)
    # the smallest move: sigmoid goes right after mul and stays ahead of relu
    assert [n.op for n in g.nodes] == ["const", "mul", "sigmoid", "relu"]

    m.producer.set_input(0, late.output)  # mul reads sigmoid, sigmoid reads mul
    with pytest.raises(VerifyError, match=r"graph @g has a cycle through 'mul' \(%m\)"):
        g.topo_sort()


def test_rename_makes_names_unique():
    g = small_graph()
    g.rename(g.find("r"), "m")
    assert g.outputs[0].name not in ("r", "m")
    verify(g)
    g.rename(g.outputs[0], "r")
    assert g.outputs[0].name == "r"


def test_renamed_graph_input_keeps_its_attributes():
    g = small_graph()
    g.input_attrs["x"] = {"q.range": [-1.0, 1.0]}
    g.rename(g.find("x"), "image")
    assert g.input_attrs == {"image": {"q.range": [-1.0, 1.0]}}
    text = print_graph(g)
    assert "%image: f32[N,4] {q.range=[-1.0, 1.0]}" in text
    assert graph_diff(parse(text), g) is None


def test_renamed_input_taking_a_used_name_keeps_its_attributes():
    g = small_graph()
    g.input_attrs["x"] = {"q.range": [0.0, 1.0]}
    g.rename(g.find("x"), "m")  # taken by the mul: the input gets a fresh name
    (x,) = g.inputs
    assert x.name != "m" and g.input_attrs == {x.name: {"q.range": [0.0, 1.0]}}


def test_renaming_a_node_result_leaves_input_attributes_alone():
    g = small_graph()
    g.input_attrs["x"] = {"q.range": [0.0, 1.0]}
    g.rename(g.find("m"), "scaled")
    assert g.input_attrs == {"x": {"q.range": [0.0, 1.0]}}


def test_add_with_too_few_operands_names_the_op():
    g = small_graph()
    with pytest.raises(VerifyError, match="'matmul' node: op 'matmul' takes 2 inputs"):
        g.add("matmul", [g.find("x")])


def test_add_without_a_required_attribute_names_it():
    g = small_graph()
    with pytest.raises(VerifyError, match=r"'transpose' node: missing required attribute 'perm' \(ints\)"):
        g.add("transpose", [g.find("x")])


def test_add_accepts_an_absent_optional_operand():
    g = Graph("g")
    x = g.add_input("x", TensorType("f32", ("N", 4)))
    w = g.constant(np.ones((3, 4), np.float32), name="w")
    node = g.add("linear", [x, w, None], name="y")
    assert node.output.type == TensorType("f32", ("N", 3))
    g.set_outputs([node.output])
    verify(g)
