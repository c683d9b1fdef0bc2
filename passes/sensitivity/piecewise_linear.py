"""Whether every layer's Hessian block is its Gauss-Newton block: the model's outputs
piecewise linear in each layer's weights, the others held.

Then the outputs' second derivative in a layer's weights is zero almost everywhere, and
the block is exactly Jₗᵀ H_out Jₗ (Jₗ the outputs' Jacobian in the layer's weights,
H_out the loss's Hessian in the outputs): what a double backward computes for it too.
That holds when every op is linear or piecewise linear in each data operand (convs and
linear layers with constant weights, adds, pools, ReLU-like clamps, reshapes) and no op
multiplies two data-dependent operands, and each layer's weights enter the graph once
(a weight used twice, or two weight operands of one node, make the outputs quadratic in it).
"""
from __future__ import annotations

from typing import Optional

from qcompiler.ir.core import Graph

# linear or piecewise linear in every data operand, whichever operands carry data
_PIECEWISE_LINEAR = {
    "add", "sub", "neg", "identity", "dropout", "flatten", "reshape", "squeeze", "unsqueeze", "transpose",
    "concat", "slice", "split", "pad", "same_pad", "tile", "expand", "resize",
    "avg_pool1d", "avg_pool2d", "adaptive_avg_pool2d", "global_avg_pool", "reduce_mean", "reduce_sum",
    "max_pool1d", "max_pool2d", "global_max_pool", "reduce_max", "reduce_min", "maximum", "minimum",
    "relu", "relu6", "clip", "leaky_relu", "abs", "batch_norm",
}
# linear in each operand: piecewise linear only while at most one operand carries data
_BILINEAR = {"conv1d", "conv2d", "conv_transpose2d", "linear", "gemm", "matmul", "mul", "prelu"}


def not_piecewise_linear(graph: Graph, layers: list) -> Optional[str]:
    """Why some layer's block may differ from its Gauss-Newton block, or None if none may."""
    for layer in layers:
        if len(layer.weights) != 1:
            return f"{layer.node.label()} has {len(layer.weights)} weight operands"
        (use,) = layer.weights
        if len(use.weight.uses) != 1:
            return f"weight %{use.weight.name} of {layer.node.label()} is used {len(use.weight.uses)} times"
    data = {id(v) for v in graph.inputs}
    for node in graph.nodes:
        carrying = [v for v in node.inputs if v is not None and id(v) in data]
        if not carrying:
            continue
        if node.op == "div" and node.inputs[0] is not None and id(node.inputs[0]) in data and len(carrying) == 1:
            pass  # data divided by a constant: linear
        elif node.op in _BILINEAR and len(carrying) == 1:
            pass
        elif node.op not in _PIECEWISE_LINEAR:
            return f"{node.label()} is not piecewise linear in its data operands"
        data.update(id(v) for v in node.outputs)
    return None
