"""bias-correct{drift=true}: the mean shift of each layer between the float model and the
quantized graph, measured layer by layer so that a layer sees the inputs its corrected
predecessors give it.

The shift W E[x_float] - Q(W) E[x_quantized] takes the weight error and the drift of the
inputs: noise through a relu has a positive mean (rectification), clipped ranges and
uneven rounding move means too, and the drift grows with depth. A layer's correction
needs every sample's input with its predecessors corrected, so every sample advances node
by node (the float model beside the graph, float_shadow.py) and memory holds the live
values of every sample: keep `samples` small. Each sample runs alone, so a node's
temporaries (a conv's unfolded input) are one sample's, not the batch's.
"""
from __future__ import annotations

from typing import Callable, Iterable, Iterator

import numpy as np

from qcompiler.ir.core import Graph, Node
from qcompiler.runtime.reference import as_float, bind_inputs, release_plan, run_node

from .float_shadow import float_value, run_float
from .layer_input_mean import LayerInputMean, sample_means


def drift_shifts(graph: Graph, layers: list, samples: list, apply: Callable) -> None:
    """Run `samples` (batches from `single_samples`) through `graph` and the float model
    node by node; before each of `layers` runs, `apply(layer, shift)` rebiases it (the
    float model keeps the layer's own bias)."""
    todo = {id(n) for n in layers}
    quant = [bind_inputs(graph, arrays) for arrays in samples]
    floats = [{id(v): as_float(env[id(v)], v.type) for v in graph.inputs} for env in quant]
    for node, dead in zip(list(graph.nodes), release_plan(graph)):
        if id(node) in todo:
            _rebias(node, quant, floats, float_value(node.inputs[1].producer), apply)
        for f_env, q_env in zip(floats, quant):
            _run(node, q_env, run_node)
            _run(node, f_env, run_float)
            for v in dead:
                q_env.pop(id(v), None)
                f_env.pop(id(v), None)


def single_samples(graph: Graph, batches: Iterable) -> Iterator[dict]:
    """`batches` cut into one-sample batches where every graph input has a free batch dim
    (a static batch stays whole)."""
    free = all(v.type.shape and isinstance(v.type.shape[0], str) for v in graph.inputs)
    for arrays in batches:
        count = next(iter(arrays.values())).shape[0] if free else 1
        for i in range(count):
            yield {name: a[i:i + 1] for name, a in arrays.items()} if free else arrays


def _rebias(node: Node, quant: list, floats: list, w_float: np.ndarray, apply: Callable) -> None:
    x, w = node.inputs[0], node.inputs[1]
    w_quant = as_float(w.producer.attrs["value"].array, w.type)
    seen_float, seen_quant, differences = LayerInputMean(), LayerInputMean(), []
    for f_env, q_env in zip(floats, quant):  # one sample's dequantized input at a time
        x_float, x_quant = f_env[id(x)], as_float(q_env[id(x)], x.type)
        seen_float.add(x_float)
        seen_quant.add(x_quant)
        differences.append(sample_means(node, [x_float], w_float) - sample_means(node, [x_quant], w_quant))
    shrink = _shrinkage(np.concatenate(differences))
    old = node.inputs[2] if len(node.inputs) > 2 else None
    apply(node, (seen_float.mean_output(node, w_float) - seen_quant.mean_output(node, w_quant)) * shrink)
    bias = node.inputs[2]
    value = bias.producer.attrs["value"].array
    for f_env, q_env in zip(floats, quant):
        q_env[id(bias)] = value
        f_env[id(bias)] = f_env[id(old)] if old is not None else np.zeros_like(value)


def _shrinkage(differences: np.ndarray) -> np.ndarray:
    """Per channel, how much of a mean over the samples' `differences` to trust: 1 - its
    squared standard error over its square, at least 0 (positive-part James-Stein). On a
    few calibration images the drift of deep layers differs from image to image as much
    as its mean: 4 light-zoo images corrected in full lost 2 dB on ShuffleNet (16 gained 2 dB)."""
    if len(differences) < 2:
        return np.ones(differences.shape[1])
    differences = differences.astype(np.float64)  # float32 squares of small means underflow to 0
    mean = differences.mean(axis=0)
    squared_error = differences.var(axis=0, ddof=1) / len(differences)
    # a channel that never moves (all-zero weights: PP-OCR rec has some) has no shift to shrink
    relative = np.divide(squared_error, mean * mean, out=np.ones_like(mean), where=mean != 0)
    return np.clip(1 - relative, 0, 1)


def _run(node: Node, env: dict, run: Callable) -> None:
    outs = run(node, [env[id(v)] if v is not None else None for v in node.inputs])
    for v, a in zip(node.outputs, outs):
        env[id(v)] = np.asarray(a)
