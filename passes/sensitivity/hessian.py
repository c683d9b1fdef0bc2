"""`metric=hessian`: HAWQ-V3's Tr(H)/n · ||Q_b(W) − W||², with the trace of each layer's
Hessian block estimated by Hutchinson's method, E[vᵀHv] over Rademacher vectors v.

Probes are per layer (v is zero outside the layer's weights), one Hessian-vector
product each (double backward through the torch executor): a probe spanning all layers
would cost one product for all of them, but its cross-layer terms, zero on average,
multiply the variance several times over. A layer's probes stop when its estimate has a
standard error below `tol` × its magnitude (after MIN_PROBES), or after `iterations`.
"""
from __future__ import annotations

import math

import torch

from .measurement import Measurement

MIN_PROBES = 8  # before this many, the sample variance is too rough to stop on


def hessian_traces(m: Measurement) -> tuple:
    """({layer name: Hutchinson estimate of its Hessian block's trace}, probes used in all)."""
    weights = {}
    for layer in m.layers:
        weights.update({k: w.clone().requires_grad_(True) for k, w in m.float_weights(layer).items()})
    keys = list(weights)
    gradients = [dict(zip(keys, torch.autograd.grad(m.loss(k, weights) * share, [weights[key] for key in keys],
                                                    create_graph=True)))
                 for k, share in enumerate(m.fractions())]
    traces, probes = {}, 0
    for layer in m.layers:
        own = [id(u.weight) for u in layer.weights]
        params = [weights[k] for k in own]
        running = _Running()
        for n in range(1, m.iterations + 1):
            v = [torch.randint(0, 2, p.shape, generator=m.generator).to(p.dtype) * 2 - 1 for p in params]
            vhv = 0.0
            for grads in gradients:
                hv = torch.autograd.grad([grads[k] for k in own], params, grad_outputs=v, retain_graph=True)
                vhv += float(sum((vi * hvi).sum() for vi, hvi in zip(v, hv)))
            running.add(vhv)
            if n >= MIN_PROBES and running.settled(m.tol):
                break
        traces[layer.name], probes = running.mean, probes + running.n
    return traces, probes


def hessian_scores(m: Measurement) -> tuple:
    traces, probes = hessian_traces(m)
    scores = {layer.name: {b: traces[layer.name] / layer.params * m.squared_error(layer, b) for b in m.bits}
              for layer in m.layers}
    return scores, {"probes": probes}


class _Running:
    """Welford's running mean and variance."""

    def __init__(self):
        self.n, self.mean, self.m2 = 0, 0.0, 0.0

    def add(self, x: float) -> None:
        self.n += 1
        delta = x - self.mean
        self.mean += delta / self.n
        self.m2 += delta * (x - self.mean)

    def settled(self, tol: float) -> bool:
        standard_error = math.sqrt(self.m2 / (self.n - 1) / self.n)
        return standard_error <= tol * abs(self.mean)
