import numpy as np

from qcompiler.ir import Graph
from qcompiler.ir.parser import parse
from qcompiler.ir.types import QuantType, f32
from qcompiler.passmanager import PassContext, make_pass, run_pipeline

SHAPE_CHAIN = """
graph @g(%x: f32[2,3,4]) -> (f32[2,12]) {
  %s = shape(%x) : i64[3]
  %i = const() {value=dense<[0]> : i64[1]} : i64[1]
  %d0 = gather(%s, %i) {axis=0} : i64[1]
  %m1 = const() {value=dense<[-1]> : i64[1]} : i64[1]
  %target = concat(%d0, %m1) {axis=0} : i64[2]
  %y = reshape(%x, %target) : f32[2,12]
  return %y
}"""


def test_shape_chain_becomes_a_static_reshape(run_and_compare):
    g = parse(SHAPE_CHAIN)
    stats = run_and_compare(g, "fold-constants,dce")
    assert stats["fold-constants"] == {"folded": 3}
    assert [n.op for n in g.nodes] == ["const", "reshape"]
    target = g.nodes[-1].inputs[1]
    assert target.name == "target"                     # the folded value keeps its name
    assert g.const_value(target).tolist() == [2, -1]


def test_folding_keeps_origin_and_erases_inputs_it_consumed(run_and_compare):
    g = Graph()
    x = g.add_input("x", f32(2, 3))
    w = g.constant(np.arange(12, dtype=np.float32).reshape(4, 3), origin="fc.weight")
    wt = g.add("transpose", [w], {"perm": [1, 0]}).output
    g.set_outputs([g.add("matmul", [x, wt]).output])
    run_and_compare(g, "fold-constants")
    assert [n.op for n in g.nodes] == ["const", "matmul"]
    assert g.nodes[0].attrs["origin"] == "fc.weight"
    np.testing.assert_array_equal(g.const_value(g.nodes[1].inputs[1]), np.arange(12).reshape(4, 3).T)


def test_huge_results_and_dynamic_shapes_are_left_alone():
    g = parse("""
    graph @g(%x: f32[N,4]) -> (f32[1000], i64[2]) {
      %n = const() {value=dense<[1000]> : i64[1]} : i64[1]
      %big = constant_of_shape(%n) : f32[1000]
      %s = shape(%x) : i64[2]
      return %big, %s
    }""")
    p = make_pass("fold-constants", {"max_elements": 100})
    result = p.run(g, PassContext())
    assert (result.changed, result.stats) == (False, {"too_large": 1})
    assert [n.op for n in g.nodes] == ["const", "constant_of_shape", "shape"]
    assert [n.op for n in run_pipeline(g, "fold-constants").nodes] == ["const", "shape"]  # default limit is larger


def test_quantized_constants_are_not_folded():
    g = Graph()
    t = QuantType("i8", "f32", (4,), scale=0.5, zero_point=0)
    q = g.constant(np.array([1, 2, 3, 4], np.int8), type=t)
    g.set_outputs([g.add("neg", [q]).output])
    result = make_pass("fold-constants").run(g, PassContext())
    assert not result.changed and [n.op for n in g.nodes] == ["const", "neg"]
