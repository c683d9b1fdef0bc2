"""`metric=hessian`: HAWQ-V3's Tr(H)/n · ||Q_b(W) − W||², with the trace of each layer's
Hessian block estimated by Hutchinson's method, E[vᵀHv] over Rademacher vectors v.

Probes are per layer (v is zero outside the layer's weights). A probe spanning all layers
(HAWQ's implementation) costs one product for all of them, but its cross-layer terms, zero
on average, add Σ_m ||H_lm||² to layer l's variance. Measured (bench/hessian_speed.py
--cross-terms 16, one batch): on a ResNet18 (batch 16) the variance per probe grew 2.4x
(last block) to 74x (stem, fc), and a joint product costs 4.4 per-layer ones on average,
so settling every layer takes ~15x the CPU of per-layer probes; on the digits CNN 0.4-4.3x
for 3 layers; on a ReLU MLP whose traces span decades the small layers got wrong signs
after 2,000 products. Scaling each layer's part of the probe by Tr(H_ll)^-½ was worse, the
scales coming from noisy estimates near 0.

What makes it fast (issue 14; 86 CPU-seconds on the 3.8k-parameter digits CNN at first, now
~1; a CIFAR ResNet18 on 64 images at tol 0.1: 200 -> 96 CPU s on one thread, bench/RESULTS.md):
- a round builds the gradient graph of one data batch once (create_graph, for the layers
  still running) and runs every unsettled layer's PROBES_PER_ROUND products on it; each
  loss is scaled by its batch's share of the samples, so the mean is the trace of the mean
  loss over all samples while a product costs one batch, not all of them, and one batch's
  graph is held at a time;
- a layer stops after any round (at least MIN_ROUNDS, every batch probed) once the
  standard error of its estimate is below `tol` × its magnitude, or after `iterations` of
  its own products; the error is the probes' noise on these samples (trace_estimate.py),
  so PROBES_PER_ROUND is the 2 that measure it, and more rounds buy no data, only probes;
- small models run on one torch thread (below SMALL_MACS per batch): an op on a batch of
  8x8 digits is too small to split, and on the shared 2-core machine two threads made the
  whole estimate ~20x slower.
Several probes in one vmapped backward (`is_grads_batched`) fail on conv's backward under
vmap, and torch.func's vmapped jvp-of-grad measured ~1.5x the CPU time of double backward
per probe on a ResNet18 (a probe per sample, vmapped: 2-4x the CPU of a shared probe's
product), so products run one after another on the kept graph.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch

from qcompiler.analysis import macs

from .measurement import Measurement
from .trace_estimate import TraceEstimate

PROBES_PER_ROUND = 2  # the fewest that measure the probes' variance within a round (one batch)
MIN_ROUNDS = 4  # before this many, the sample variance is too rough to stop on
SMALL_MACS = 10 ** 8  # MACs per batch: the digits CNN does 5e6 (64 digits), a ResNet18 4.5e9 (8 CIFAR images)


def hessian_traces(m: Measurement) -> tuple:
    """({layer name: Hutchinson estimate of its Hessian block's trace}, products used)."""
    weights = {}
    for layer in m.layers:
        weights.update({k: w.clone().requires_grad_(True) for k, w in m.float_weights(layer).items()})
    own = [[weights[id(u.weight)] for u in layer.weights] for layer in m.layers]
    shares = m.fractions()
    estimates = [TraceEstimate(len(shares)) for _ in m.layers]
    active = list(range(len(m.layers)))
    rounds = 0
    with _threads_for(m):
        while active:
            k = rounds % len(shares)
            # settled layers' gradients are not needed: the graph of a round covers the active ones
            flat = torch.autograd.grad(m.loss(k, weights) * (shares[k] * len(shares)),
                                       [p for i in active for p in own[i]], create_graph=True)
            gradients = iter(flat)
            for i in active:
                layer_gradients = [next(gradients) for _ in own[i]]
                values = []
                for _ in range(min(PROBES_PER_ROUND, m.iterations - estimates[i].probes)):
                    v = [torch.randint(0, 2, p.shape, generator=m.generator).to(p.dtype) * 2 - 1 for p in own[i]]
                    hv = torch.autograd.grad(layer_gradients, own[i], grad_outputs=v, retain_graph=True)
                    values.append(float(sum((vi * hvi).sum() for vi, hvi in zip(v, hv))))
                estimates[i].add(k, values)
            del flat, gradients, layer_gradients  # this batch's graph: the next round builds its own
            rounds += 1
            active = [i for i in active if estimates[i].probes < m.iterations
                      and not (estimates[i].rounds >= MIN_ROUNDS and estimates[i].settled(m.tol))]
    return {layer.name: e.mean for layer, e in zip(m.layers, estimates)}, sum(e.probes for e in estimates)


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
