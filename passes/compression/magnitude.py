"""Magnitude pruning masks: drop exactly round(sparsity · units) of the units with the
smallest scores, where a unit is one weight element (score |w|) or one output channel
(score: the root mean square of its weights, comparable across layers of different
fan-in). Ties go by position, so the count is exact whatever the values."""
from __future__ import annotations

import math

import numpy as np

GRANULARITIES = ("element", "channel")


def unit_scores(weight: np.ndarray, granularity: str) -> np.ndarray:
    w = np.abs(np.asarray(weight, np.float64))
    if granularity == "element":
        return w.reshape(-1)
    return np.sqrt(np.mean(w.reshape(w.shape[0], -1) ** 2, axis=1))


def pruned_count(sparsity: float, units: int) -> int:
    return min(units, math.floor(sparsity * units + 0.5))


def keep_masks(scores: list, sparsity: float) -> list:
    """One boolean mask per score array (True = kept), pruning over all of them at once."""
    flat = np.concatenate([s.reshape(-1) for s in scores])
    keep = np.ones(flat.size, bool)
    keep[np.argsort(flat, kind="stable")[:pruned_count(sparsity, flat.size)]] = False
    return np.split(keep, np.cumsum([s.size for s in scores])[:-1])


def apply_mask(weight: np.ndarray, keep: np.ndarray, granularity: str) -> np.ndarray:
    """`weight` with the pruned units set to zero (a channel mask covers its whole row)."""
    shape = weight.shape if granularity == "element" else (weight.shape[0],) + (1,) * (weight.ndim - 1)
    return np.where(keep.reshape(shape), weight, np.zeros((), weight.dtype))
