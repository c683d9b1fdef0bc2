from qcompiler.instruments import DumpIR
from qcompiler.ir.equality import graph_diff
from qcompiler.ir.serialize import load_qir
from qcompiler.passmanager import PassManager


def test_numbered_dumps_parse_back(net, tmp_path):
    dump = DumpIR(tmp_path / "dumps")
    PassManager("fold-bn,fuse-activations,dce", instruments=[dump]).run(net)
    names = sorted(p.name for p in (tmp_path / "dumps").glob("*.qir"))
    assert names == ["000_input.qir", "001_fold-bn.qir", "002_fuse-activations.qir", "003_dce.qir"]
    assert (tmp_path / "dumps" / "000_input.npz").is_file()
    graphs = [load_qir(p) for p in dump.paths]
    assert "batch_norm" in graphs[0].op_counts() and "batch_norm" not in graphs[1].op_counts()
    assert graph_diff(graphs[-1], net) is None
