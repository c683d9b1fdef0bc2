from qcompiler.ir.parser import parse


def test_erases_dead_chains_and_keeps_outputs(run_and_compare):
    g = parse("""
    graph @g(%x: f32[4]) -> (f32[4], f32[4]) {
      %c = const() {value=dense<2.0> : f32[]} : f32[]
      %dead1 = mul(%x, %c) : f32[4]
      %dead2 = relu(%dead1) : f32[4]
      %a = relu(%x) : f32[4]
      %b = neg(%x) : f32[4]
      return %a, %b
    }""")
    stats = run_and_compare(g, "dce")
    assert stats == {"dce": {"erased": 3}}
    assert [n.op for n in g.nodes] == ["relu", "neg"]


def test_nothing_dead_is_unchanged(run_and_compare):
    g = parse("""
    graph @g(%x: f32[4]) -> (f32[4]) {
      %a = relu(%x) : f32[4]
      return %a
    }""")
    assert run_and_compare(g, "dce") == {"dce": {}}
    assert len(g) == 1
