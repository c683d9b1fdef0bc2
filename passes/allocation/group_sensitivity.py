"""Sensitivity of groups of a layer's output channels, from the layer's own `q.sens`.

The sensitivity pass scores whole layers. A group of output channels gets the layer's
score at b bits times the group's share of the layer's weight error at b bits,
‖Q_b(W_g) − W_g‖² / ‖Q_b(W) − W‖², with Q_b per output channel as the quantizer will
apply it (so the shares add up to the layer's score). Widths the sensitivity pass did
not measure — binary weights, which it cannot quantize — are extrapolated from the
narrowest measured width by the weight error: S_b = S_ref · E_b / E_ref, the
Hessian-trace model (score = curvature × ‖ΔW‖²) every weight-perturbation metric shares.
"""
from __future__ import annotations

import numpy as np

from qcompiler.ir.core import Graph

from ..sensitivity.layers import quantized_weight
from .errors import AllocationError


def binary_weight(array: np.ndarray, axis) -> np.ndarray:
    """Q_1(W): sign(W) times the mean magnitude per output channel (per tensor without an
    axis), as `quantize` stores b1 weights (the scale minimising ‖W − s·sign(W)‖²)."""
    a = np.asarray(array, np.float32)
    reduce = tuple(i for i in range(a.ndim) if i != axis) if axis is not None else None
    scale = np.abs(a).mean(axis=reduce, keepdims=axis is not None)
    return np.where(a >= 0, 1.0, -1.0).astype(np.float32) * scale


def channel_errors(graph: Graph, use, bits: int, symmetric: bool) -> np.ndarray:
    """‖Q_b(W) − W‖² per output channel of one weight operand (one entry without an axis)."""
    array = np.asarray(graph.const_value(use.weight), np.float32)
    quantized = binary_weight(array, use.axis) if bits == 1 else quantized_weight(graph, use, bits, symmetric)
    squared = (quantized.astype(np.float64) - array) ** 2
    if use.axis is None:
        return squared.sum().reshape(1)
    return np.moveaxis(squared, use.axis, 0).reshape(squared.shape[use.axis], -1).sum(axis=1)


def group_scores(graph: Graph, layer, bounds: list, widths, symmetric: bool) -> list:
    """One {str(bits): score} per (start, stop) channel range of `bounds`, for `widths`
    and every width `q.sens` has. `bounds` must cover the layer's channels; a layer
    whose weights have no single output-channel axis is one group, [(0, 1)]."""
    measured = layer.node.attrs.get("q.sens")
    if not measured:
        raise AllocationError(f"{layer.node.label()} has no q.sens: run sensitivity before allocate-bits")
    every = sorted({int(b) for b in measured} | set(widths))
    errors = {b: _errors(graph, layer, b, symmetric) for b in every}
    reference = min(int(b) for b in measured)
    per_error = _ratio(float(measured[str(reference)]), errors[reference].sum())
    scores = [{} for _ in bounds]
    for b in every:
        total = errors[b].sum()
        layer_score = float(measured[str(b)]) if str(b) in measured else per_error * total
        for k, (start, stop) in enumerate(bounds):
            share = errors[b][start:stop].sum() / total if total > 0 else (stop - start) / len(errors[b])
            scores[k][str(b)] = float(layer_score * share)
    return scores


def _errors(graph: Graph, layer, bits: int, symmetric: bool) -> np.ndarray:
    if len(layer.weights) == 1:
        return channel_errors(graph, layer.weights[0], bits, symmetric)
    return np.array([sum(channel_errors(graph, use, bits, symmetric).sum() for use in layer.weights)])


def _ratio(score: float, error: float) -> float:
    return score / error if error > 0 else 0.0
