"""`metric=orthogonality`: OMPQ's network-orthogonality proxy (Ma et al., AAAI 2023), from
the layers' output features on a small batch; no labels are used.

ORM(i, j) is the linear CKA of layers i and j: the Hilbert-Schmidt inner product of
their centred Gram matrices over the samples, normalised. A layer whose features are
nearly orthogonal to every other layer's (small γ_i = Σ_{j≠i} ORM(i, j)) carries
information the others do not: θ_i = exp(−γ_i). Bits of layer i affect every later
layer, so OMPQ's importance of layer i is the mean of θ over layers i..L (graph order).
OMPQ maximises Σ importance_i · b_i; as a sensitivity to minimise that is
importance_i · (max(bits) − b), zero at the widest choice.
"""
from __future__ import annotations

import numpy as np
import torch

from .measurement import Measurement


def _centred_gram(features: np.ndarray) -> np.ndarray:
    x = features.reshape(features.shape[0], -1).astype(np.float64)
    x = x - x.mean(axis=0, keepdims=True)  # centring the features centres the linear Gram matrix
    return x @ x.T


def orthogonality_matrix(grams: list) -> np.ndarray:
    flat = [g.ravel() / max(np.linalg.norm(g), np.finfo(np.float64).tiny) for g in grams]
    return np.array([[float(a @ b) for b in flat] for a in flat])


def importance(m: Measurement) -> dict:
    names = [layer.name for layer in m.layers]
    outputs = {name: [] for name in names}
    with torch.no_grad():
        for batch in m.batches:
            _, recorded = m.model.probe(batch.inputs, record=names)
            for name in names:
                outputs[name].append(recorded[name][1].numpy())
    orm = orthogonality_matrix([_centred_gram(np.concatenate(outputs[name])) for name in names])
    theta = np.exp(-(orm.sum(axis=1) - np.diag(orm)))
    return {name: float(theta[i:].mean()) for i, name in enumerate(names)}


def orthogonality_scores(m: Measurement) -> tuple:
    weights = importance(m)
    widest = max(m.bits)
    return {name: {b: w * (widest - b) for b in m.bits} for name, w in weights.items()}, {}
