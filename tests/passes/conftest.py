"""Shared checks for pass tests: a pipeline must keep the reference numerics."""
import numpy as np
import pytest

from qcompiler.ir import verify
from qcompiler.passmanager import PassContext, PassManager
from qcompiler.runtime.reference import run_graph


def random_inputs(graph, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(v.type.shape).astype(np.float32) for v in graph.inputs]


@pytest.fixture
def run_and_compare():
    """`run_and_compare(graph, pipeline, rtol=...)` runs the pipeline in place, checks the
    outputs against the reference run before it and returns {pass: stats}."""

    def check(graph, pipeline, rtol=1e-5, atol=1e-6, seed=0):
        verify(graph)
        inputs = random_inputs(graph, seed)
        before = run_graph(graph, inputs)
        pm = PassManager(pipeline)
        pm.run(graph, PassContext())
        verify(graph)
        after = run_graph(graph, inputs)
        assert len(before) == len(after)
        for b, a in zip(before, after):
            np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)
        return {r.name: r.stats for r in pm.history}

    return check
