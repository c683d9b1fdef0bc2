"""`sensitivity{metric=bmpq}`: BMPQ's bit-gradient score (bmpq.py) after training, from
the calibration batches instead of the training steps: the loss gradient with respect to
every layer's weights quantized at the widest measured width B (all layers at once, as
BMPQ's training sees them), its LSB bit-gradient Σ s_B·|∂L/∂Q| per output channel summed
over the batches (each batch weighted by its share of the samples), and per width b the
score ½ Σ_c LSB_c · s_b,c / s_B,c with s_b the step Q_b stores the layer with.

For the score during training, the way the paper uses it, see `qat{bitopt=bmpq}`.
"""
from __future__ import annotations

import numpy as np
import torch

from .bmpq import bmpq_scores
from .layers import weight_type
from .measurement import Measurement


def _channel_scale(m: Measurement, use, bits: int) -> torch.Tensor:
    """The step of each element's output channel, shaped to broadcast against the weight."""
    t = weight_type(m.graph, use, bits, m.weight_symmetric)
    scale = np.asarray(t.scale.array, np.float64).reshape(-1)
    view = [1] * len(t.shape)
    if t.axis is not None:
        view[t.axis] = -1
    return torch.from_numpy(scale.reshape(view))  # per tensor: one step, every dim 1


def bmpq_metric_scores(m: Measurement) -> tuple:
    widest = max(m.bits)
    uses = [use for layer in m.layers for use in layer.weights]
    scales = {id(u.weight): {b: _channel_scale(m, u, b) for b in m.bits} for u in uses}
    leaves = {k: q.clone().requires_grad_(True) for layer in m.layers for k, q in m.quantized(layer, widest).items()}
    lsb = {k: torch.zeros_like(scales[k][widest]) for k in leaves}
    for k, share in enumerate(m.fractions()):
        grads = torch.autograd.grad(m.loss(k, leaves), list(leaves.values()))
        for key, g in zip(leaves, grads):
            lsb[key] += share * (g.double().abs() * scales[key][widest]).sum_to_size(lsb[key].shape)
    scores = {}
    for layer in m.layers:
        per_width = [bmpq_scores(lsb[id(u.weight)], scales[id(u.weight)][widest], scales[id(u.weight)])
                     for u in layer.weights]
        scores[layer.name] = {b: sum(s[b] for s in per_width) for b in m.bits}
    return scores, {}
