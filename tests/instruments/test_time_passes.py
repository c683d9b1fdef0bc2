from qcompiler.instruments import TimePasses
from qcompiler.passmanager import PassManager


def test_table_lists_every_pass_run_with_a_total(net):
    timer = TimePasses()
    PassManager("canonicalize,fold-bn,fuse-activations,cse,dce", instruments=[timer]).run(net)
    names = [r.name for r in timer.records]
    assert names == ["canonicalize", "fold-bn", "fuse-activations", "cse", "dce"]
    assert all(r.seconds >= 0 for r in timer.records) and timer.total == sum(r.seconds for r in timer.records)
    lines = timer.table().splitlines()
    assert len(lines) == 1 + 5 + 1
    for line, name in zip(lines[1:], names):
        assert line.split()[1] == name
    assert lines[-1].split()[0] == "total"
