"""`metric=bit-gradient`: the loss increase of putting one layer at b bits, from loss
gradients with respect to its quantized weights. (BMPQ's own score, from the bit-plane
gradients' magnitudes, is `metric=bmpq`, bmpq.py; this one stays because it ranks the
layers' 2-bit damage best of all metrics, docs/mixed-precision.md.)

Written over bit-planes β_i as s·Σ 2^i β_i, the gradient of the loss with respect to
plane i is s·2^i·∂L/∂Q; summed over the planes' changes it is
⟨∂L/∂Q, Q_b(W) − W⟩. Integrated along the path from W to Q_b(W) with the trapezoid rule
(exact for a quadratic loss), the loss increase is ½⟨∇L(W) + ∇L(Q_b(W)), Q_b(W) − W⟩.
With KL to the float outputs ∇L(W) = 0, and it is the Hessian quadratic form
½ δᵀHδ without ever forming H.
"""
from __future__ import annotations

import torch

from .measurement import Measurement


def _gradient(m: Measurement, weights: dict) -> dict:
    leaves = {k: w.clone().requires_grad_(True) for k, w in weights.items()}
    total = {k: torch.zeros_like(w) for k, w in weights.items()}
    for k, share in enumerate(m.fractions()):
        grads = torch.autograd.grad(m.loss(k, leaves) * share, list(leaves.values()))
        for key, g in zip(leaves, grads):
            total[key] += g
    return total


def bit_gradient_scores(m: Measurement) -> tuple:
    scores = {}
    for layer in m.layers:
        w = m.float_weights(layer)
        at_float = _gradient(m, w)
        scores[layer.name] = {}
        for b in m.bits:
            q = m.quantized(layer, b)
            at_b = _gradient(m, q)
            increase = 0.5 * float(sum(((at_float[k] + at_b[k]) * (q[k] - w[k])).double().sum() for k in q))
            # the estimate dips below 0 where the loss is flat or noisy; a negative score would
            # read as "fewer bits help" and steer the allocator to them, so no increase is 0
            scores[layer.name][b] = max(0.0, increase)
    return scores, {}
