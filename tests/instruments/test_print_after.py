import io

from qcompiler.instruments import PrintAfter
from qcompiler.passmanager import PassManager


def test_collects_only_the_named_passes(net):
    printer = PrintAfter(["fold-bn", "dce"])
    PassManager("fold-bn,fuse-activations,dce", instruments=[printer]).run(net)
    assert [name for name, _ in printer.dumps] == ["fold-bn", "dce"]
    after_fold = printer.dumps[0][1]
    assert "batch_norm" not in after_fold and "relu(" in after_fold
    assert 'activation="relu"' in printer.dumps[1][1]


def test_writes_to_a_stream_and_star_means_every_pass(net):
    out = io.StringIO()
    PassManager("fold-bn,dce", instruments=[PrintAfter("*", out)]).run(net)
    text = out.getvalue()
    assert text.count("// ----- IR after ") == 2
    body = text.split("// ----- IR after dce -----\n")[1]
    assert body.startswith("graph @net(") and "dense<blob:" in body   # large weights are not spelled out
