"""The worklist driver: fixed point, hit counts, dead-node erasure, order, the cap."""
import numpy as np
import pytest

from qcompiler.ir import Graph, verify
from qcompiler.ir.types import f32
from qcompiler.rewrite import Const, Op, Rule, RewriteError, RuleSet, Var, apply_rules

T = f32(4)


def node(g, op, *inputs, **attrs):
    return g.add(op, list(inputs), attrs, output_types=[T]).output


def chain(n):
    """x -> Neg -> Neg -> ... (n times) -> output."""
    g = Graph()
    v = g.add_input("x", T)
    for _ in range(n):
        v = node(g, "onnx.Neg", v)
    g.set_outputs([v])
    return g


double_neg = Rule("double-neg", Op("onnx.Neg", Op("onnx.Neg", Var("x"))), lambda b, m: m["x"])


def test_applies_to_a_fixed_point_and_counts_hits():
    g = chain(5)
    hits = apply_rules(g, [double_neg])
    assert hits == {"double-neg": 2}
    assert [n.op for n in g.nodes] == ["onnx.Neg"]
    assert g.outputs[0].producer.inputs[0] is g.inputs[0]
    verify(g)


def test_erases_matched_nodes_only_when_dead():
    g = Graph()
    x = g.add_input("x", T)
    inner = node(g, "onnx.Neg", x)
    outer = node(g, "onnx.Neg", inner)
    g.set_outputs([outer, inner])                      # inner stays alive as an output
    assert apply_rules(g, [double_neg]) == {"double-neg": 1}
    assert g.outputs[0] is x and g.outputs[1] is inner and len(g) == 1


def test_replacement_is_inserted_in_order_and_inherits_the_name():
    g = Graph()
    x = g.add_input("x", T)
    r = g.add("onnx.Relu", [x], output_types=[T], name="act").output
    y = node(g, "onnx.Neg", r)
    g.set_outputs([y])
    to_gelu = Rule("relu-to-gelu", Op("onnx.Relu", Var("x")),
                   lambda b, m: b.op("onnx.Gelu", [b.op("onnx.Abs", [m["x"]], output_types=[T])], output_types=[T]))
    assert apply_rules(g, [to_gelu]) == {"relu-to-gelu": 1}
    assert [n.op for n in g.nodes] == ["onnx.Abs", "onnx.Gelu", "onnx.Neg"]
    assert g.nodes[1].output.name == "act"
    verify(g)


def test_condition_and_constants_from_the_builder():
    g = Graph()
    x = g.add_input("x", T)
    two, three = g.constant(np.float32(2)), g.constant(np.float32(3))
    y = node(g, "onnx.Mul", node(g, "onnx.Mul", x, two), three)
    g.set_outputs([y])
    fold = Rule("mul-mul", Op("onnx.Mul", Op("onnx.Mul", Var("x"), Const("a"), single_use=True), Const("b")),
                lambda b, m: b.op("onnx.Mul", [m["x"], b.constant(m.array("a") * m.array("b"))], output_types=[T]),
                condition=lambda m: m.array("a").size == 1)
    assert apply_rules(g, RuleSet([fold])) == {"mul-mul": 1}
    [mul] = [n for n in g.nodes if n.op == "onnx.Mul"]
    assert g.const_value(mul.inputs[1]) == 6
    assert g.const_value(mul.inputs[1]).dtype == np.float32
    assert [n.op for n in g.nodes].count("const") == 1   # the constants only the match read are gone
    verify(g)


def test_replacement_with_another_type_is_skipped_and_cleaned_up():
    g = chain(1)
    widen = Rule("widen", Op("onnx.Neg", Var("x")),
                 lambda b, m: b.op("onnx.Tile", [m["x"], b.constant(np.array([2]))], output_types=[f32(8)]))
    assert apply_rules(g, [widen]) == {}
    assert [n.op for n in g.nodes] == ["onnx.Neg"]


def test_a_rule_set_that_never_settles_is_an_error_naming_the_rule():
    g = chain(1)
    flip = Rule("flip", Op("onnx.Neg", Var("x")), lambda b, m: b.op("onnx.Neg", [m["x"]], output_types=[T]))
    with pytest.raises(RewriteError, match=r"fixed point after 3 sweeps.*still firing: flip"):
        apply_rules(g, [flip], max_sweeps=3)


def test_wrong_number_of_replacement_values_is_reported():
    g = chain(1)
    bad = Rule("bad", Op("onnx.Neg", Var("x")), lambda b, m: [m["x"], m["x"]])
    with pytest.raises(RewriteError, match="rule 'bad' replaced 'onnx.Neg'.*with 2 values"):
        apply_rules(g, [bad])
