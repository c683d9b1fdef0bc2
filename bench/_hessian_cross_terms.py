"""What a probe spanning all layers costs in variance (issue 14 item 5): on one data batch,
`probes` Rademacher vectors over every layer's weights at once (one Hessian-vector product
each gives vₗᵀ(Hv)ₗ for every layer l, as HAWQ's implementation draws them) against
`probes` vectors per layer (vₗ zero outside layer l, one product per layer and probe).

Both are unbiased for tr(Hₗₗ); the joint one adds the cross terms Σₘ vₗᵀHₗₘvₘ, of variance
Σₘ‖Hₗₘ‖²_F. The joint estimator saves products only where its variance per probe is
less than the layer count times the per-layer one (then one product serves every layer
as well as a product of its own would)."""
from __future__ import annotations

import time

import torch

from qcompiler.passes.sensitivity.measurement import Measurement


def cross_term_spread(m: Measurement, probes: int, batch: int = 0) -> list:
    """Per layer: (name, joint mean, joint std/|mean| per probe, own mean, own std/|mean|,
    variance ratio joint/own), and the CPU seconds of the joint and the per-layer products."""
    weights = {}
    for layer in m.layers:
        weights.update({k: w.clone().requires_grad_(True) for k, w in m.float_weights(layer).items()})
    own = [[weights[id(u.weight)] for u in layer.weights] for layer in m.layers]
    flat = [p for params in own for p in params]
    gradients = torch.autograd.grad(m.loss(batch, weights), flat, create_graph=True)
    by_layer = _split(gradients, own)

    def rademacher(params):
        return [torch.randint(0, 2, p.shape, generator=m.generator).to(p.dtype) * 2 - 1 for p in params]

    cpu = time.process_time()
    joint = []
    for _ in range(probes):
        v = rademacher(flat)
        hv = torch.autograd.grad(gradients, flat, grad_outputs=v, retain_graph=True)
        products = [float((a * b).sum()) for a, b in zip(v, hv)]
        joint.append([sum(part) for part in _split(products, own)])
    joint_cpu = time.process_time() - cpu

    cpu = time.process_time()
    single = [[0.0] * probes for _ in own]
    for i, params in enumerate(own):
        for j in range(probes):
            v = rademacher(params)
            hv = torch.autograd.grad(by_layer[i], params, grad_outputs=v, retain_graph=True)
            single[i][j] = float(sum((a * b).sum() for a, b in zip(v, hv)))
    own_cpu = time.process_time() - cpu

    rows = []
    for i, layer in enumerate(m.layers):
        a = torch.tensor([sample[i] for sample in joint], dtype=torch.float64)
        b = torch.tensor(single[i], dtype=torch.float64)
        rows.append((layer.name, float(a.mean()), float(a.std() / a.mean().abs()), float(b.mean()),
                     float(b.std() / b.mean().abs()), float(a.var() / b.var())))
    return rows, joint_cpu, own_cpu


def _split(flat, own: list) -> list:
    """A sequence over every layer's weights, cut into one list per layer."""
    parts, start = [], 0
    for params in own:
        parts.append(list(flat[start:start + len(params)]))
        start += len(params)
    return parts
