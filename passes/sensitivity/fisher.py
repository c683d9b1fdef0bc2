"""`metric=fisher`: ½ Σ F_ii (Q_b(W) − W)_i², with F the diagonal of the empirical Fisher
information, the mean of per-sample squared loss gradients at the float weights (the
FIT metric: a second-order estimate of the loss increase, with F standing in for H).

Without labels the KL to the float outputs has zero per-sample gradients at the float
weights, so labels are sampled from the float model's own predictive distribution
instead: the Fisher of those labels is the Gauss-Newton Hessian of that KL.
"""
from __future__ import annotations

import torch

from .loss import per_sample_task_loss
from .measurement import Measurement


def sampled_labels(m: Measurement, k: int) -> torch.Tensor:
    """One class per sample (and position), drawn from the float model's softmax over dim 1."""
    logits = m.reference(k)[0]
    probs = torch.softmax(logits.movedim(1, -1).reshape(-1, logits.shape[1]).double(), dim=-1)
    drawn = torch.multinomial(probs, 1, generator=m.generator)
    return drawn.reshape((logits.shape[0],) + tuple(logits.shape[2:]))


def fisher_diagonals(m: Measurement) -> dict:
    """id(weight Value) -> mean over the samples of the squared per-sample gradient."""
    weights = {}
    for layer in m.layers:
        weights.update({k: w.clone().requires_grad_(True) for k, w in m.float_weights(layer).items()})
    keys = list(weights)
    totals = {k: torch.zeros_like(w) for k, w in weights.items()}
    for k, batch in enumerate(m.batches):
        labels = batch.labels if batch.labels is not None else sampled_labels(m, k)
        losses = per_sample_task_loss(m.model(batch.inputs, weights), labels)
        # row i of the identity picks sample i's loss: one batched backward, per-sample gradients
        grads = torch.autograd.grad(losses, [weights[key] for key in keys], grad_outputs=torch.eye(len(losses)),
                                    is_grads_batched=True)
        for key, g in zip(keys, grads):
            totals[key] += (g.detach() ** 2).sum(dim=0)
    return {key: t / m.samples for key, t in totals.items()}


def fisher_scores(m: Measurement) -> tuple:
    diagonal = fisher_diagonals(m)
    scores = {}
    for layer in m.layers:
        w = m.float_weights(layer)
        scores[layer.name] = {b: 0.5 * float(sum((diagonal[k] * (q - w[k]) ** 2).double().sum()
                                                 for k, q in m.quantized(layer, b).items())) for b in m.bits}
    return scores, {}
