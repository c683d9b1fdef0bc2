"""symbolic_value evaluates only the shape chain a reshape target is computed from,
never the data graph behind a `shape` (the legacy ONNX BERT spent 16 s there)."""
from qcompiler.passes.canonicalize import resolve_reshapes as module
from qcompiler.ir.parser import parse

DIAMONDS = 24  # each add reads its predecessor twice: 2**24 paths through the data graph


def _graph():
    chain = "\n".join(f"  %x{i + 1} = add(%x{i}, %x{i}) : f32[?,8]" for i in range(DIAMONDS))
    return parse(f"""graph @g(%x0: f32[?,8]) -> (f32[?,?]) {{
{chain}
  %s = shape(%x{DIAMONDS}) : i64[2]
  %batch = slice(%s) {{axes=[0], ends=[1], starts=[0], steps=[1]}} : i64[1]
  %rest = const() {{value=dense<[-1]> : i64[1]}} : i64[1]
  %target = concat(%batch, %rest) {{axis=0}} : i64[2]
  %y = reshape(%x{DIAMONDS}, %target) : f32[?,?]
  return %y
}}""")


def test_only_the_shape_chain_is_evaluated(monkeypatch):
    graph = _graph()
    calls = []
    evaluate = module.symbolic_value

    def counted(*args, **kwargs):
        calls.append(args[1].name)
        return evaluate(*args, **kwargs)

    monkeypatch.setattr(module, "symbolic_value", counted)
    assert module.resolve_reshapes(graph) == 1
    assert sorted(calls) == ["batch", "rest", "s", "target"]
    reshape = graph.outputs[0].producer
    assert graph.const_value(reshape.inputs[1]).tolist() == [0, -1]
