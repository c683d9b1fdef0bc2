"""Hutchinson's estimate of each layer's Hessian-block trace against the exact trace,
on tiny models imported from torch and from ONNX (both run by the torch executor), the
layers' ranking on a deeper one, whose layers' traces span two decades, and on a model
quadratic in its weights with known block traces: batch weighting and the stop."""
import math

import numpy as np
import onnx
import pytest
import torch
from onnx import helper

from scipy.stats import spearmanr

from qcompiler.frontends.fx import import_module
from qcompiler.frontends.onnx import import_onnx
from qcompiler.passes.sensitivity.data import Batch
from qcompiler.passes.sensitivity.hessian import MIN_ROUNDS, OUTPUT_SPACE_PER_ROUND, hessian_traces
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


class TwoLinear(torch.nn.Module):
    """y = A x + B (3x): with the mean squared error the loss is quadratic in the weights, and
    per sample the blocks are 2xxᵀ ⊗ I / outputs (A) and 18xxᵀ ⊗ I / outputs (B), so the
    traces of the mean loss's blocks are 2·mean‖x‖² and 18·mean‖x‖², whatever the weights."""

    def __init__(self):
        super().__init__()
        self.a, self.b = torch.nn.Linear(6, 4, bias=False), torch.nn.Linear(6, 4, bias=False)

    def forward(self, x):
        return self.a(x) + self.b(x * 3.0)


def quadratic_measurement(inputs, iterations, tol):
    graph = import_module(TwoLinear().eval(), inputs[0][:2], dynamic_batch=True)
    layers = quantizable_layers(graph)
    batches = [Batch((x,), torch.from_numpy(RNG.standard_normal((len(x), 4)).astype(np.float32))) for x in inputs]
    return Measurement(graph, layers, TorchModel(graph, layers), batches, (2, 4, 8), True, False,
                       torch.Generator().manual_seed(0), iterations, tol)


def test_estimate_is_unbiased_on_a_quadratic_with_known_block_traces():
    """Two batches of 16 and 8 samples, the second scaled by √3: each sample's share of the mean
    loss is what counts (a mean over the two batches would be ~1.2x the traces)."""
    x = torch.from_numpy(RNG.standard_normal((24, 6)).astype(np.float32))
    inputs = [x[:16], math.sqrt(3) * x[16:]]
    m = quadratic_measurement(inputs, iterations=20000, tol=0.02)
    estimated, _ = hessian_traces(m)
    mean_square = float(torch.cat(inputs).square().sum(1).mean())
    a, b = (estimated[layer.name] for layer in m.layers)
    # stopped at a standard error of 2%: 3 standard errors
    assert a == pytest.approx(2 * mean_square, rel=0.06) and b == pytest.approx(18 * mean_square, rel=0.06)


def test_a_layer_stops_once_its_probes_settle_whatever_the_batches_spread():
    """Batch k holds the unit vectors e_0..e_5 scaled by 0.5, 1 and 1.5: each block is a multiple
    of the identity, so every probe gives its batch's trace exactly; the batches' traces differ
    (1:4:9), which is no error of the estimate over these samples, so both layers stop after the
    minimum rounds, a pass and a third, the first batch seen twice and still weighted as one."""
    scales = (0.5, 1.0, 1.5)
    m = quadratic_measurement([s * torch.eye(6) for s in scales], iterations=1000, tol=0.01)
    estimated, products = hessian_traces(m)
    mean_square = sum(s * s for s in scales) / len(scales)
    assert [estimated[layer.name] for layer in m.layers] == pytest.approx([2 * mean_square, 18 * mean_square],
                                                                          rel=1e-5)
    assert products == 2 * MIN_ROUNDS * OUTPUT_SPACE_PER_ROUND
