"""A segment of the graph (units.py) as a torch module of its own.

For learning, a unit's rounded weights are inputs (the caller feeds soft-rounded
weights while learning, hard-rounded ones to measure) and its outputs are compared
before their own quantization (that error is the same for every rounding); the
quantized types inside it stay, so activations between its layers are fake-quantized
with their calibrated parameters as they will be deployed. For streaming, a segment
computes its outputs with the graph's types and constants.
"""
from __future__ import annotations

import numpy as np
import torch

from qcompiler.ir.clone import clone
from qcompiler.ir.core import Graph, Node
from qcompiler.ir.dense import Dense
from qcompiler.ir.ops.infer import plain
from qcompiler.ir.types import QuantType
from qcompiler.numerics.affine import dequantize
from qcompiler.runtime.torch import to_torch

from .units import Segment


def segment_module(graph: Graph, segment: Segment, nodes: list, learning: bool = False) -> torch.fx.GraphModule:
    """forward(*segment.inputs[, *weights when learning]) -> segment.outputs, computing
    `nodes` (the segment's nodes, from `graph`: the quantized graph or its float copy)."""
    sub = Graph(f"{graph.name}_segment")
    mapping = {}
    for v in segment.inputs:  # already computed, fake-quantized where quantized
        mapping[v.name] = sub.add_input(v.name, plain(v.type))
    if learning:
        for w in segment.weights:
            mapping[w.value.name] = sub.add_input(w.value.name, plain(w.value.type))
    inside = {id(n) for n in nodes}
    outputs = {v.name for v in segment.outputs}
    for node in nodes:
        for v in node.inputs:
            if v is not None and v.name not in mapping:  # a constant the segment reads (a weight, a bias, a shape)
                const = v.producer
                mapping[v.name] = sub.append(Node("const", [], [v.type], dict(const.attrs), [v.name])).output
        types = [plain(v.type) if learning and v.name in outputs and not any(id(u) in inside for u in v.users)
                 else v.type for v in node.outputs]
        copy = Node(node.op, [None if v is None else mapping[v.name] for v in node.inputs], types, dict(node.attrs),
                    [v.name for v in node.outputs])
        sub.append(copy)
        mapping.update({v.name: c for v, c in zip(node.outputs, copy.outputs)})
    sub.set_outputs(mapping[v.name] for v in segment.outputs)
    return to_torch(sub).requires_grad_(False)  # only the rounding variables learn


def float_graph(graph: Graph, weights: list) -> Graph:
    """A copy of the quantized `graph` computing in float: the rounded weights' float
    values back in place, other quantized constants dequantized, no fake quantization."""
    copy = clone(graph)
    floats = {w.value.name: w.float_value for w in weights}
    for node in copy.nodes:
        if node.op == "const" and isinstance(node.output.type, QuantType):
            array = floats.get(node.output.name)
            if array is None:
                array = dequantize(node.attrs["value"].array, node.output.type)
            node.attrs["value"] = Dense(np.asarray(array, np.float32))
        for v in node.outputs:
            v.type = plain(v.type)
    return copy
