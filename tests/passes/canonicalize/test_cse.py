from qcompiler.ir.parser import parse
from qcompiler.passmanager import run_pipeline


def test_merges_equal_nodes_and_duplicate_constants(run_and_compare):
    g = parse("""
    graph @g(%x: f32[4]) -> (f32[4]) {
      %c1 = const() {origin="a.scale", value=dense<2.0> : f32[]} : f32[]
      %c2 = const() {origin="b.scale", value=dense<2.0> : f32[]} : f32[]
      %m1 = mul(%x, %c1) : f32[4]
      %m2 = mul(%c2, %x) : f32[4]
      %s = add(%m1, %m2) : f32[4]
      return %s
    }""")
    stats = run_and_compare(g, "cse,dce")
    assert stats["cse"] == {"merged": 2}   # the constant, then the (commuted) multiply
    assert [n.op for n in g.nodes] == ["const", "mul", "add"]
    add = g.nodes[-1]
    assert add.inputs[0] is add.inputs[1]


def test_different_attributes_types_or_order_stay_apart():
    g = parse("""
    graph @g(%x: f32[4], %y: f32[4]) -> (f32[4], f32[4], f32[4], f32[4], f32[4], f32[4]) {
      %a = leaky_relu(%x) {alpha=0.1} : f32[4]
      %b = leaky_relu(%x) {alpha=0.2} : f32[4]
      %c = sub(%x, %y) : f32[4]
      %d = sub(%y, %x) : f32[4]
      %e = const() {value=dense<[2.0, 2.0]> : f32[2]} : f32[2]
      %f = const() {value=dense<[2, 2]> : i64[2]} : i64[2]
      %g1 = reshape(%x, %f) {allowzero=false} : f32[2,2]
      return %a, %b, %c, %d, %x, %y
    }""")
    run_pipeline(g, "cse")
    assert len(g) == 7


def test_random_ops_are_never_merged():
    g = parse("""
    graph @g() -> (f32[4], f32[4]) {
      %a = onnx.RandomNormal() {shape=[4]} : f32[4]
      %b = onnx.RandomNormal() {shape=[4]} : f32[4]
      return %a, %b
    }""")
    run_pipeline(g, "cse")
    assert len(g) == 2
