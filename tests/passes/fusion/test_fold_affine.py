"""fold-bn's per-channel affine rules keep what the graph computes: every folding case
of the .qir files beside this one, run before and after on random inputs."""
from pathlib import Path

import numpy as np
import pytest

from qcompiler.ir.clone import clone
from qcompiler.ir.parser import parse
from qcompiler.passmanager import PassContext, PassManager
from qcompiler.runtime.reference import run_graph

CASES = sorted(p for p in Path(__file__).parent.glob("fold_affine_*.qir") if "not_per_channel" not in p.name)


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_folding_keeps_the_result(path):
    graph = parse(path.read_text())
    folded = clone(graph)
    PassManager("fold-bn,dce").run(folded, PassContext())
    assert not any(n.op in ("mul", "add") for n in folded.nodes), "every affine op folds"
    rng = np.random.default_rng(0)
    feeds = {v.name: rng.standard_normal(v.type.shape).astype(np.float32) for v in graph.inputs}
    for want, got in zip(run_graph(graph, feeds), run_graph(folded, feeds)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
