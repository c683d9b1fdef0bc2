"""Regression: ONNX imports give batch-norm statistics an origin, so the torch executor
makes them parameters; batch_norm must still run forward and backward."""
import numpy as np
import torch

from qcompiler.ir import Graph, TensorType, verify
from qcompiler.runtime.reference import run_graph
from qcompiler.runtime.torch import to_torch


def test_batch_norm_with_parameter_statistics_runs_and_differentiates():
    rng = np.random.default_rng(0)
    g = Graph()
    x = g.add_input("x", TensorType("f32", (2, 3, 4, 4)))
    params = [g.constant((rng.random(3) + 0.5).astype(np.float32), origin=f"bn.{n}") for n in ("w", "b", "mean", "var")]
    g.set_outputs([g.add("batch_norm", [x, *params]).output])
    verify(g)
    xi = rng.normal(size=(2, 3, 4, 4)).astype(np.float32)
    module = to_torch(g)
    out = module(torch.from_numpy(xi))
    out = out[0] if isinstance(out, (tuple, list)) else out
    out.square().sum().backward()
    np.testing.assert_allclose(out.detach().numpy(), run_graph(g, [xi])[0], rtol=1e-5, atol=1e-6)
    grads = [p.grad for p in module.parameters()]
    assert len(grads) == 4 and all(gr is not None and torch.isfinite(gr).all() for gr in grads)
