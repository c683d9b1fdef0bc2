"""Pattern matching on graphs of opaque ops (they need no op definitions)."""
import numpy as np
import pytest

from qcompiler.ir import Graph
from qcompiler.ir.types import f32
from qcompiler.rewrite import Const, Op, Rule, RewriteError, RuleSet, Var
from qcompiler.rewrite.pattern import State

T = f32(4)


def node(g, op, *inputs, **attrs):
    return g.add(op, list(inputs), attrs, output_types=[T]).output


def matches(pattern, value):
    return list(pattern.match(value, State()))


def test_var_binds_and_repeated_var_must_see_the_same_value():
    g = Graph()
    x, y = g.add_input("x", T), g.add_input("y", T)
    same, other = node(g, "onnx.Mul", x, x), node(g, "onnx.Mul", x, y)
    square = Op("onnx.Mul", Var("a"), Var("a"))
    assert len(matches(square, same)) == 1
    assert matches(square, other) == []
    [s] = matches(Op("onnx.Mul", Var("a"), Var("b")), other)
    assert s.bindings["a"] is x and s.bindings["b"] is y


def test_op_alternatives_names_and_attribute_predicates():
    g = Graph()
    x = g.add_input("x", T)
    r = node(g, "onnx.Relu", x)
    e = node(g, "onnx.Elu", x, alpha=2.0)
    act = Op(("onnx.Relu", "onnx.Elu"), Var("x"), name="act")
    assert matches(act, r)[0].bindings["act"] is r.producer
    assert len(matches(act, e)) == 1
    assert matches(Op("onnx.Elu", Var("x"), attrs={"alpha": 2.0}), e)
    assert not matches(Op("onnx.Elu", Var("x"), attrs={"alpha": 1.0}), e)
    assert matches(Op("onnx.Elu", Var("x"), attrs={"alpha": lambda a: a > 1}), e)
    assert not matches(Op("onnx.Sigmoid", Var("x")), r)


def test_const_by_value_and_by_predicate():
    g = Graph()
    x = g.add_input("x", T)
    six, vec = g.constant(np.float32(6.0)), g.constant(np.array([1, 2, 3, 4], np.float32))
    a, b = node(g, "onnx.Add", x, six), node(g, "onnx.Add", x, vec)
    assert matches(Op("onnx.Add", Var("x"), Const("k", value=6.0)), a)[0].bindings["k"] is six
    assert not matches(Op("onnx.Add", Var("x"), Const(value=6.0)), b)
    assert matches(Op("onnx.Add", Var("x"), Const(where=lambda v: v.size == 4)), b)
    assert not matches(Op("onnx.Add", Var("x"), Const()), node(g, "onnx.Add", x, x))


def test_commutative_operands_backtrack_into_nested_patterns():
    g = Graph()
    x, y = g.add_input("x", T), g.add_input("y", T)
    three = g.constant(np.float32(3.0))
    inner = node(g, "onnx.Add", three, x)              # 3 + x, constant first
    outer = node(g, "onnx.Mul", inner, x)              # (3 + x) * x, x second
    p = Op("onnx.Mul", Var("x"), Op("onnx.Add", Var("x"), Const(value=3.0)), commutative=True)
    assert matches(p, outer) == []                      # onnx.* ops are not commutative on their own...
    p = Op("onnx.Mul", Var("x"), Op("onnx.Add", Var("x"), Const(value=3.0), commutative=True), commutative=True)
    [s] = matches(p, outer)                             # ...but both orders are tried when asked
    assert s.bindings["x"] is x
    assert matches(p, node(g, "onnx.Mul", inner, y)) == []


def test_add_and_mul_are_commutative_by_default():
    assert Op("add", Var("a"), Var("b")).commutative and Op(("mul", "add")).commutative
    assert not Op("sub", Var("a"), Var("b")).commutative


def test_single_use_rejects_a_value_read_elsewhere():
    g = Graph()
    x = g.add_input("x", T)
    r = node(g, "onnx.Relu", x)
    s = node(g, "onnx.Sigmoid", r)
    p = Op("onnx.Sigmoid", Op("onnx.Relu", Var("x"), single_use=True))
    assert matches(p, s)
    g.set_outputs([s, r])                               # r is now also a graph output
    assert not matches(p, s)
    g.set_outputs([s])
    node(g, "onnx.Neg", r)
    assert not matches(p, s)


def test_optional_operands_and_arity():
    g = Graph()
    x, w = g.add_input("x", T), g.add_input("w", T)
    two = node(g, "onnx.Conv", x, w)
    assert matches(Op("onnx.Conv", Var("x"), Var("w"), Var("b", optional=True)), two)[0].bindings["b"] is None
    assert not matches(Op("onnx.Conv", Var("x"), Var("w"), Var("b")), two)
    assert not matches(Op("onnx.Conv", Var("x")), two)  # more operands than the pattern lists
    assert matches(Op("onnx.Conv"), two)               # no operand patterns: operands are not looked at


def test_rule_root_must_be_an_op_and_rule_names_unique():
    with pytest.raises(RewriteError, match="root must be an Op"):
        Rule("bad", Var("x"), lambda b, m: m["x"])
    r = Rule("r", Op("onnx.Relu", Var("x")), lambda b, m: m["x"])
    with pytest.raises(RewriteError, match="duplicate rule names: r"):
        RuleSet([r, r])
