"""BR-QAT (Yu et al. 2024, "Improving Quantization-aware Training of Low-Precision
Network via Block Replacement on Full-Precision Counterpart"): besides the quantized
backbone, train mixed models, one per block: the float model with block i replaced by
its quantized twin. The twin shares the backbone's weights and step sizes, so each mixed
model's loss (the same loss as the backbone's, added to it) trains block i in a float
context: its inputs come from float blocks (fake-quantized where the backbone quantizes
them) and its outputs are judged through float blocks, which gives each block a gradient
free of the quantization error of the others.

Blocks are adaround's BRECQ blocks (passes/rounding/units.py: runs of layers closed by
an add or a concat, or after `block_layers` layers). The float parts run with the
weights the float model had (fixed, not trained).
"""
from __future__ import annotations

import numpy as np

from qcompiler.ir.clone import clone
from qcompiler.ir.core import Graph
from qcompiler.ir.dense import Dense
from qcompiler.ir.ops.infer import plain
from qcompiler.ir.types import QuantType
from qcompiler.numerics.affine import dequantize

from ..rounding.units import partition, units
from .losses import training_loss
from .training_module import TrainingModule


class MixedModels:
    def __init__(self, graph: Graph, weights: list, method: str, backbone: TrainingModule, block_layers: int,
                 loss):
        self.loss = loss
        self.blocks = units(partition(graph, weights, "block", block_layers))
        self.graphs = [mixed_graph(graph, block, weights) for block in self.blocks]
        self.models = [TrainingModule(g, list(block.weights), method, shared=backbone).module.train()
                       for g, block in zip(self.graphs, self.blocks)]

    def __call__(self, inputs: list, labels, teacher):
        return sum(training_loss(self.loss, list(model(*inputs)), labels, teacher) for model in self.models)


def mixed_graph(graph: Graph, block, weights: list) -> Graph:
    """A copy of the quantized `graph` that computes in float outside `block`: the
    float weights back in place (fixed: no `origin`, so the torch executor makes them
    buffers), other types float, except the values the block reads, which stay
    quantized as the backbone feeds them."""
    copy = clone(graph)
    inside = {n.outputs[0].name for n in block.nodes}
    kept = {w.value.name for w in block.weights} | {v.name for v in block.inputs}
    floats = {w.value.name: w.float_value for w in weights}
    for node in copy.nodes:
        if node.op == "const":
            _float_constant(node, floats, reads_block=any(u.outputs[0].name in inside for u in node.output.users))
            continue
        if node.outputs[0].name in inside:
            continue
        for v in node.outputs:
            if v.name not in kept:
                v.type = plain(v.type)
    return copy


def _float_constant(node, floats: dict, reads_block: bool) -> None:
    v = node.output
    if reads_block and (v.name in floats or not isinstance(v.type, QuantType)):
        return  # the block's own weights and biases: the backbone's parameters
    if isinstance(v.type, QuantType):
        array = floats.get(v.name)
        if array is None:
            array = dequantize(node.attrs["value"].array, v.type)
        node.attrs["value"] = Dense(np.asarray(array, np.float32))
        v.type = plain(v.type)
    node.attrs.pop("origin", None)
