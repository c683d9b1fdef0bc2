import numpy as np
import pytest

from qcompiler.ir import Graph
from qcompiler.ir.parser import parse
from qcompiler.ir.types import f32


def graph_of(body: str, x="f32[2,8]", out="f32[2,8]") -> Graph:
    return parse(f"graph @g(%x: {x}) -> ({out}) {{\n{body}\n}}")


CONSTS = """
  %three = const() {value=dense<3.0> : f32[]} : f32[]
  %six = const() {value=dense<6.0> : f32[]} : f32[]
  %sixth = const() {value=dense<0.16666667> : f32[]} : f32[]
"""

HARDSWISH_FORMS = {
    # PyTorch -> ONNX: x * clip(x + 3, 0, 6) / 6
    "div": """%a = add(%x, %three) : f32[2,8]
  %c = clip(%a) {max=6.0, min=0.0} : f32[2,8]
  %m = mul(%x, %c) : f32[2,8]
  %y = div(%m, %six) : f32[2,8]""",
    # multiply by 1/6, operands in the other order
    "mul": """%a = add(%three, %x) : f32[2,8]
  %c = relu6(%a) : f32[2,8]
  %m = mul(%c, %x) : f32[2,8]
  %y = mul(%m, %sixth) : f32[2,8]""",
    # PaddlePaddle: x * hardsigmoid(x) with alpha 1/6 (as f32), beta 0.5
    "hardsigmoid": """%h = hardsigmoid(%x) {alpha=0.16666667, beta=0.5} : f32[2,8]
  %y = mul(%x, %h) : f32[2,8]""",
    # x * (relu6(x + 3) / 6): hardsigmoid first, then hardswish
    "nested": """%a = add(%x, %three) : f32[2,8]
  %c = relu6(%a) : f32[2,8]
  %h = div(%c, %six) : f32[2,8]
  %y = mul(%x, %h) : f32[2,8]""",
}


@pytest.mark.parametrize("form", sorted(HARDSWISH_FORMS))
def test_hardswish_spellings_become_one_op(run_and_compare, form):
    g = graph_of(CONSTS + "  " + HARDSWISH_FORMS[form] + "\n  return %y")
    stats = run_and_compare(g, "canonicalize,dce", atol=1e-6)
    assert [n.op for n in g.nodes] == ["hardswish"]
    assert g.nodes[0].output.name == "y"
    assert sum(stats["canonicalize"].values()) >= 1


def test_hardswish_is_not_formed_when_an_intermediate_is_read_elsewhere(run_and_compare):
    g = parse("graph @g(%x: f32[2,8]) -> (f32[2,8], f32[2,8]) {" + CONSTS + """
      %a = add(%x, %three) : f32[2,8]
      %c = relu6(%a) : f32[2,8]
      %m = mul(%x, %c) : f32[2,8]
      %y = div(%m, %six) : f32[2,8]
      return %y, %c
    }""")
    stats = run_and_compare(g, "canonicalize")
    assert stats == {"canonicalize": {}}


def test_clip_bounds_pick_relu6_relu_or_nothing(run_and_compare):
    g = parse("""graph @g(%x: f32[2,8]) -> (f32[2,8], f32[2,8], f32[2,8], f32[2,8]) {
      %a = clip(%x) {max=6.0, min=0.0} : f32[2,8]
      %b = clip(%x) {min=0.0} : f32[2,8]
      %c = clip(%x) {max=inf, min=0.0} : f32[2,8]
      %d = clip(%x) {max=4.0, min=0.0} : f32[2,8]
      return %a, %b, %c, %d
    }""")
    stats = run_and_compare(g, "canonicalize")
    assert stats["canonicalize"] == {"clip-to-relu6": 1, "clip-to-relu": 2}
    assert [n.op for n in g.nodes] == ["relu6", "relu", "relu", "clip"]


def gemm_graph(trans_b: bool, c_shape, **attrs):
    rng = np.random.default_rng(1)
    g = Graph()
    a = g.add_input("x", f32(3, 5))
    b = g.constant(rng.standard_normal((4, 5) if trans_b else (5, 4)).astype(np.float32), origin="fc.weight")
    ins = [a, b] + ([g.constant(rng.standard_normal(c_shape).astype(np.float32), origin="fc.bias")] if c_shape is not None else [])
    g.set_outputs([g.add("gemm", ins, {"trans_b": trans_b, **attrs}, name="y").output])
    return g


@pytest.mark.parametrize("trans_b,c_shape", [(True, (4,)), (False, (4,)), (True, (1, 4)), (False, None), (True, ())])
def test_gemm_becomes_linear(run_and_compare, trans_b, c_shape):
    g = gemm_graph(trans_b, c_shape)
    stats = run_and_compare(g, "canonicalize,dce")
    assert stats["canonicalize"] == {"gemm-to-linear": 1}
    [lin] = [n for n in g.nodes if n.op == "linear"]
    assert lin.inputs[1].type.shape == (4, 5) and lin.inputs[1].producer.attrs["origin"] == "fc.weight"
    assert len(lin.inputs) == (3 if c_shape is not None else 2)
    if c_shape is not None:
        assert lin.inputs[2].type.shape == (4,)


GEMM_TRANS_A = """graph @g(%x: f32[5,3], %w: f32[4,5]) -> (f32[3,4]) {
  %y = gemm(%x, %w) {trans_a=true, trans_b=true} : f32[3,4]
  return %y
}"""


@pytest.mark.parametrize("make", [
    lambda: gemm_graph(True, (4,), alpha=2.0),
    lambda: gemm_graph(True, (3, 4)),          # a bias that differs per row
    lambda: parse(GEMM_TRANS_A),
], ids=["alpha", "row-bias", "trans-a"])
def test_gemm_that_is_not_a_linear_stays(run_and_compare, make):
    g = make()
    assert run_and_compare(g, "canonicalize") == {"canonicalize": {}}
    assert [n.op for n in g.nodes if n.op != "const"] == ["gemm"]


def test_identity_and_dropout_disappear(run_and_compare):
    g = graph_of("""%a = identity(%x) : f32[2,8]
  %b = dropout(%a) {p=0.2} : f32[2,8]
  %y = relu(%b) : f32[2,8]
  return %y""")
    assert run_and_compare(g, "canonicalize")["canonicalize"] == {"remove-identity": 2}
    assert [n.op for n in g.nodes] == ["relu"] and g.nodes[0].inputs[0] is g.inputs[0]


def test_reshape_of_reshape_collapses(run_and_compare):
    g = graph_of("""%s1 = const() {value=dense<[4, 4]> : i64[2]} : i64[2]
  %s2 = const() {value=dense<[0, 2, 2]> : i64[3]} : i64[3]
  %a = reshape(%x, %s1) : f32[4,4]
  %y = reshape(%a, %s2) : f32[4,2,2]
  return %y""", out="f32[4,2,2]")
    assert run_and_compare(g, "canonicalize,dce")["canonicalize"] == {"reshape-reshape": 1}
    [r] = [n for n in g.nodes if n.op == "reshape"]
    assert r.inputs[0] is g.inputs[0] and g.const_value(r.inputs[1]).tolist() == [4, 2, 2]  # 0 resolved


def test_transposes_compose_or_cancel(run_and_compare):
    g = parse("""graph @g(%x: f32[2,3,4]) -> (f32[4,2,3], f32[2,3,4]) {
      %a = transpose(%x) {perm=[1, 2, 0]} : f32[3,4,2]
      %b = transpose(%a) {perm=[1, 2, 0]} : f32[4,2,3]
      %c = transpose(%x) {perm=[2, 0, 1]} : f32[4,2,3]
      %d = transpose(%c) {perm=[1, 2, 0]} : f32[2,3,4]
      return %b, %d
    }""")
    assert run_and_compare(g, "canonicalize,dce")["canonicalize"] == {"transpose-transpose": 2}
    assert [n.op for n in g.nodes] == ["transpose"]
    assert g.nodes[0].attrs["perm"] == [2, 0, 1] and g.outputs[1] is g.inputs[0]


def conv_plus(k_shape, producer="conv2d", bias=True):
    rng = np.random.default_rng(5)
    g = Graph()
    if producer == "linear":
        x, w = g.add_input("x", f32(3, 5)), g.constant(rng.standard_normal((4, 5)).astype(np.float32))
    else:
        x, w = g.add_input("x", f32(1, 2, 5, 5)), g.constant(rng.standard_normal((4, 2, 3, 3)).astype(np.float32))
    ins = [x, w] + ([g.constant(rng.standard_normal(4).astype(np.float32), origin="conv.bias")] if bias else [])
    y = g.add(producer, ins).output
    k = g.constant(rng.standard_normal(k_shape).astype(np.float32), origin="extra.bias")
    g.set_outputs([g.add("add", [k, y], name="out").output])
    return g


@pytest.mark.parametrize("producer,k_shape,bias", [
    ("conv2d", (1, 4, 1, 1), True), ("conv2d", (4, 1, 1), False), ("conv2d", (), True), ("linear", (4,), True),
    ("linear", (1, 4), False)])
def test_a_separate_bias_add_moves_into_the_producer(run_and_compare, producer, k_shape, bias):
    g = conv_plus(k_shape, producer, bias)
    assert run_and_compare(g, "canonicalize,dce")["canonicalize"] == {"bias-add-into-producer": 1}
    assert g.op_counts() == {"const": 2, producer: 1}
    node = g.nodes[-1]
    assert node.output.name == "out" and node.inputs[2].type.shape == (4,)
    assert node.inputs[2].producer.attrs["origin"] == ("conv.bias" if bias else "extra.bias")


def test_a_moved_bias_leaves_the_calibrated_range_of_the_sum(run_and_compare):
    g = conv_plus((4,), "linear")
    g.find("out").producer.inputs[1].producer.attrs["q.range"] = [-5.0, 5.0]
    g.find("out").producer.attrs["q.range"] = [-1.0, 8.0]
    run_and_compare(g, "canonicalize,dce")
    assert g.nodes[-1].attrs["q.range"] == [-1.0, 8.0]


@pytest.mark.parametrize("k_shape", [(1, 4, 3, 1), (3, 1), (1, 1, 1, 3)])
def test_an_add_that_is_not_per_channel_stays(run_and_compare, k_shape):
    g = conv_plus(k_shape)
    assert run_and_compare(g, "canonicalize") == {"canonicalize": {}}
