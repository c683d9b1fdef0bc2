"""Hutchinson's estimate of each layer's Hessian-block trace against the exact trace,
on tiny models imported from torch and from ONNX (both run by the torch executor), and
the layers' ranking on a deeper one, whose layers' traces span two decades."""
import numpy as np
import onnx
import pytest
import torch
from onnx import helper

from scipy.stats import spearmanr

from qcompiler.frontends.fx import import_module
from qcompiler.frontends.onnx import import_onnx
from qcompiler.passes.sensitivity.data import Batch
from qcompiler.passes.sensitivity.hessian import hessian_traces
from qcompiler.passes.sensitivity.layers import quantizable_layers
from qcompiler.passes.sensitivity.measurement import Measurement
from qcompiler.passes.sensitivity.torch_model import TorchModel
from qcompiler.testing.onnx_models import floats, make_model, tensor

RNG = np.random.default_rng(0)
X = RNG.standard_normal((32, 6)).astype(np.float32)
Y = RNG.integers(0, 3, 32)


def measurement(graph, labels, iterations, tol, seed=0):
    layers = quantizable_layers(graph)
    halves = (slice(0, 16), slice(16, 32))
    batches = [Batch((torch.from_numpy(X[h]),), None if labels is None else labels[h]) for h in halves]
    return Measurement(graph, layers, TorchModel(graph, layers), batches, (2, 4, 8), True, False,
                       torch.Generator().manual_seed(seed), iterations, tol)


def exact_traces(m):
    """Trace of each layer's block of the Hessian of the mean loss, from the full block."""
    traces = {}
    for layer in m.layers:
        (use,) = layer.weights
        w = m.model.float_weight(use)

        def loss(flat):
            weights = {id(use.weight): flat.reshape(w.shape)}
            return sum(m.loss(k, weights) * share for k, share in enumerate(m.fractions()))

        traces[layer.name] = float(torch.autograd.functional.hessian(loss, w.reshape(-1)).diagonal().sum())
    return traces


def torch_mlp():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3)).eval()
    return import_module(model, torch.from_numpy(X[:2]), dynamic_batch=True)


def onnx_mlp():
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h"]), helper.make_node("Tanh", ["h"], ["t"]),
             helper.make_node("Gemm", ["t", "w2", "b2"], ["y"], transB=1)]
    inits = [floats("w1", RNG.standard_normal((6, 5))), floats("w2", RNG.standard_normal((3, 5))),
             floats("b2", RNG.standard_normal(3))]
    model = make_model(nodes, [tensor("x", ["N", 6])], [tensor("y", ["N", 3])], 17, inits)
    onnx.checker.check_model(model)
    return import_onnx(model)


@pytest.mark.parametrize("build", [torch_mlp, onnx_mlp])
@pytest.mark.parametrize("labelled", [True, False], ids=["task-loss", "kl"])
def test_estimate_matches_the_exact_trace(build, labelled):
    graph = build()
    labels = torch.from_numpy(Y) if labelled else None
    m = measurement(graph, labels, iterations=10000, tol=0.02)
    estimated, _ = hessian_traces(m)
    exact = exact_traces(m)
    assert len(exact) == 2
    for name, trace in exact.items():
        assert trace > 0
        # stopped at a standard error of 2%: 3 standard errors
        assert estimated[name] == pytest.approx(trace, rel=0.06), (name, estimated, exact)


def test_tolerance_stops_the_probes_and_the_seed_repeats_them():
    graph = torch_mlp()
    labels = torch.from_numpy(Y)
    loose, loose_probes = hessian_traces(measurement(graph, labels, iterations=4000, tol=0.1))
    again, _ = hessian_traces(measurement(graph, labels, iterations=4000, tol=0.1))
    other, _ = hessian_traces(measurement(graph, labels, iterations=4000, tol=0.1, seed=1))
    _, capped = hessian_traces(measurement(graph, labels, iterations=10, tol=0.0))
    assert loose_probes < 2 * 400 and capped == 2 * 10
    assert loose == again and loose != other


def deep_mlp():
    """Seven linear layers scaled so their curvature differs: the ranking has something to get right.
    ReLU keeps each layer's output linear in its weights, so every block is positive semi-definite."""
    torch.manual_seed(0)
    layers = []
    for i, (cin, cout) in enumerate([(6, 12), (12, 12), (12, 8), (8, 12), (12, 8), (8, 8), (8, 3)]):
        linear = torch.nn.Linear(cin, cout)
        with torch.no_grad():
            linear.weight *= (0.5, 1.5, 0.8, 1.2, 0.6, 1.4, 1.0)[i]
        layers += [linear, torch.nn.ReLU()]
    return import_module(torch.nn.Sequential(*layers[:-1]).eval(), torch.from_numpy(X[:2]), dynamic_batch=True)


def test_layers_rank_like_their_exact_traces():
    """The ranking the allocator sees, at the pass's default tol: the two smallest traces are
    within 1% of each other, any other swap brings rho below 0.95. (A ReLU network's layer
    blocks are J^T H_logits J whatever the labels: the KL gives the same traces.)"""
    m = measurement(deep_mlp(), torch.from_numpy(Y), iterations=2000, tol=0.05)
    estimated, _ = hessian_traces(m)
    exact = exact_traces(m)
    assert len(exact) == 7 and max(exact.values()) > 30 * min(exact.values())
    rho = spearmanr([estimated[k] for k in exact], list(exact.values()))[0]
    assert rho >= 0.95, (estimated, exact)
