"""Shared checks for the torch frontend tests: import, run both executors, compare."""
from __future__ import annotations

import numpy as np
import torch

from qcompiler.frontends.fx import import_module
from qcompiler.runtime.reference import run_graph
from qcompiler.runtime.torch import run_torch


def rel_err(got, want) -> float:
    """max |got - want| / max |want|: the faithfulness measure of the import tests."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-12)) if want.size else 0.0


def torch_outputs(model, inputs) -> list:
    with torch.no_grad():
        leaves, _ = torch.utils._pytree.tree_flatten(model(*inputs))
    return [t.numpy() for t in leaves]


def assert_faithful(graph, model, inputs, tol: float = 1e-4) -> None:
    """Both executors reproduce the module's outputs on `inputs` within `tol` (relative)."""
    want = torch_outputs(model, inputs)
    arrays = [x.numpy() for x in inputs]
    for executor in (run_graph, run_torch):
        got = executor(graph, arrays)
        assert len(got) == len(want), executor.__name__
        for i, (a, b) in enumerate(zip(got, want)):
            assert a.shape == b.shape, f"{executor.__name__} output {i}: shape {a.shape} != {b.shape}"
            assert rel_err(a, b) < tol, f"{executor.__name__} output {i}: relative error {rel_err(a, b):.2e}"


def import_and_check(model, *inputs, tol: float = 1e-4, **options):
    model.eval()
    graph = import_module(model, inputs, **options)
    assert_faithful(graph, model, inputs, tol)
    return graph
