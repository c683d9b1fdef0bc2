"""Activations whose range no clipping method may narrow.

Percentile, KL and MSE trade a clipped tail for finer steps, which pays where the tail is
rare noise. Two kinds of value carry their signal in the extremes instead:
- graph outputs: the caller reads them directly (a recognizer's last softmax, clipped at
  0.25 by KL on PP-OCRv4 rec, made every confident class tie and every line wrong);
- results of bounded squashing functions (softmax, sigmoid, hardsigmoid, tanh, and convs
  with a fused sigmoid): their range is small and known, and values near the bound are
  the confident ones (a gate at 1, a probability near 1).
Both keep the range observed on the calibration data, whatever the method.
"""
from __future__ import annotations

from qcompiler.ir.core import Graph

BOUNDED_OPS = frozenset({"softmax", "masked_softmax", "sigmoid", "hardsigmoid", "tanh"})
BOUNDED_FUSED_ACTIVATIONS = frozenset({"sigmoid"})


def keeps_observed_range(graph: Graph) -> set:
    """Ids of the values of `graph` that keep their observed range."""
    kept = {id(v) for v in graph.outputs}
    for node in graph.nodes:
        if node.op in BOUNDED_OPS or node.attrs.get("activation") in BOUNDED_FUSED_ACTIVATIONS:
            kept.update(id(v) for v in node.outputs)
    return kept
