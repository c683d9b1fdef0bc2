"""`metric=hessian`: HAWQ-V3's Tr(H)/n · ||Q_b(W) − W||², with the trace of each layer's
Hessian block estimated by Hutchinson's method: the mean of unbiased random samples.

Two kinds of sample, both on one data batch per round:
- output space, where the block is exactly its Gauss-Newton block Jₗᵀ H Jₗ (the outputs
  piecewise linear in each layer's weights, piecewise_linear.py: ReLU CNNs) and the loss's
  per-sample Hessian in the outputs is small enough to factor, FFᵀ = H (output_curvature.py):
  for a Rademacher u over the outputs, ‖Jₗᵀ F u‖² is a sample of the block's trace, and one
  backward pass of the cotangent F u gives it for every layer at once. Unlike a probe
  spanning all layers' weights (HAWQ's implementation; measured and rejected, bench/RESULTS.md)
  a layer's sample has no cross-layer terms: its variance is at most 2‖Jₗᵀ H Jₗ‖²_F, a
  Gaussian weight-space probe's. A CIFAR ResNet18 (64 images, tol 0.1, one thread) takes
  ~20 CPU s this way against 96 with weight-space products (bench/RESULTS.md).
- weight space, everywhere else: vᵀ Hₗₗ v for a Rademacher v over the layer's weights, one
  double backward (a Hessian-vector product) per layer and sample, on the gradient graph of
  the round's batch (built once for the layers still running).
Each loss is scaled by its batch's share of the samples, so the mean is the trace of the
mean loss over all samples while a sample costs one batch. A layer stops after any round (at
least MIN_ROUNDS, every batch probed) once the standard error of its estimate is below `tol`
× its magnitude (trace_estimate.py: the samples' own noise on these samples, measured by the
several samples of each round), or after `iterations` samples. Settled layers leave the
backward passes, which then stop at the earliest layer still running.
Small models run on one torch thread (below SMALL_MACS per batch): an op on a batch of 8x8
digits is too small to split, and on the shared 2-core machine two threads made the whole
estimate ~20x slower.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch

from qcompiler.analysis import macs

from .measurement import Measurement
from .output_curvature import OutputCurvature, factorable
from .piecewise_linear import not_piecewise_linear
from .trace_estimate import TraceEstimate

WEIGHT_SPACE_PER_ROUND = 2  # the fewest that measure the samples' variance within a round (one batch)
# a sample is a backward pass shared by all layers, after the round's forward and loss curvature: 8 cost
# the ResNet18 19.9 CPU s against 18.3 at 4 (bench/hessian_speed.py), and with 7 degrees of freedom a
# round's variance no longer lets a heavy-tailed layer stop on a lucky start (digits CNN, tol 0.05, six
# seeds: estimates 0.93-1.09 of the exact trace, 0.53-1.13 at 2 a round)
OUTPUT_SPACE_PER_ROUND = 8
MIN_ROUNDS = 4  # before this many, the sample variance is too rough to stop on
SMALL_MACS = 10 ** 8  # MACs per batch: the digits CNN does 5e6 (64 digits), a ResNet18 4.5e9 (8 CIFAR images)


def hessian_traces(m: Measurement) -> tuple:
    """({layer name: Hutchinson estimate of its Hessian block's trace}, samples used, summed over layers)."""
    weights = {}
    for layer in m.layers:
        weights.update({k: w.clone().requires_grad_(True) for k, w in m.float_weights(layer).items()})
    own = [[weights[id(u.weight)] for u in layer.weights] for layer in m.layers]
    shares = m.fractions()
    estimates = [TraceEstimate(len(shares)) for _ in m.layers]
    samples, per_round = ((_output_space_samples, OUTPUT_SPACE_PER_ROUND) if output_space_applies(m)
                          else (_weight_space_samples, WEIGHT_SPACE_PER_ROUND))
    active = list(range(len(m.layers)))
    rounds = 0
    with _threads_for(m):
        while active:
            k = rounds % len(shares)
            wanted = {i: min(per_round, m.iterations - estimates[i].probes) for i in active}
            for i, values in samples(m, k, shares[k] * len(shares), own, weights, wanted).items():
                estimates[i].add(k, values)
            rounds += 1
            active = [i for i in active if estimates[i].probes < m.iterations
                      and not (estimates[i].rounds >= MIN_ROUNDS and estimates[i].settled(m.tol))]
    return {layer.name: e.mean for layer, e in zip(m.layers, estimates)}, sum(e.probes for e in estimates)


def output_space_applies(m: Measurement) -> bool:
    """Every layer's block is its Gauss-Newton block and the outputs' curvature can be factored."""
    return not_piecewise_linear(m.graph, m.layers) is None and factorable(m.reference(0))


def _output_space_samples(m: Measurement, k: int, scale: float, own: list, weights: dict, wanted: dict) -> dict:
    """{layer: ‖Jₗᵀ F u‖² for `wanted[layer]` Rademacher u} on batch k, one backward pass per u."""
    outputs = m.model(m.batches[k].inputs, weights)
    curvature = OutputCurvature(outputs, lambda o: m.loss_of_outputs(k, o) * scale)
    values = {i: [] for i in wanted}
    passes = max(wanted.values())
    for j in range(passes):
        taking = [i for i, count in wanted.items() if count > j]
        pairs = [(outputs[o], c) for o, c in zip(curvature.float_outputs, curvature.cotangents(m.generator))
                 if outputs[o].requires_grad]
        gradients = iter(torch.autograd.grad([o for o, _ in pairs], [p for i in taking for p in own[i]],
                                             grad_outputs=[c for _, c in pairs], retain_graph=j + 1 < passes))
        for i in taking:
            values[i].append(float(sum(next(gradients).square().sum() for _ in own[i])))
    return values


def _weight_space_samples(m: Measurement, k: int, scale: float, own: list, weights: dict, wanted: dict) -> dict:
    """{layer: vᵀHv for `wanted[layer]` Rademacher v over its weights} on batch k."""
    flat = torch.autograd.grad(m.loss(k, weights) * scale, [p for i in wanted for p in own[i]], create_graph=True)
    gradients = iter(flat)
    values = {}
    for i, count in wanted.items():
        layer_gradients = [next(gradients) for _ in own[i]]
        values[i] = []
        for _ in range(count):
            v = [torch.randint(0, 2, p.shape, generator=m.generator).to(p.dtype) * 2 - 1 for p in own[i]]
            hv = torch.autograd.grad(layer_gradients, own[i], grad_outputs=v, retain_graph=True)
            values[i].append(float(sum((vi * hvi).sum() for vi, hvi in zip(v, hv))))
    return values


@contextmanager
def _threads_for(m: Measurement):
    small = max(b.size for b in m.batches) * sum(macs(n) for n in m.graph.nodes) < SMALL_MACS
    threads = torch.get_num_threads()
    if small:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def hessian_scores(m: Measurement) -> tuple:
    traces, probes = hessian_traces(m)
    scores = {layer.name: {b: traces[layer.name] / layer.params * m.squared_error(layer, b) for b in m.bits}
              for layer in m.layers}
    return scores, {"probes": probes}
