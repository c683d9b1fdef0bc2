"""A unit as a torch module whose rounded weights are inputs, and the values around
it: its inputs from the quantized graph (with the units before it already rounded),
its float targets from the float graph.

The unit's sub-graph keeps the quantized types inside it, so activations between its
layers are fake-quantized with their calibrated parameters as they will be deployed;
its outputs are compared before their own quantization (that error is the same for
every rounding). Its weights enter as float inputs: the caller feeds the soft-rounded
weights while learning, the hard-rounded ones to measure.
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

from .units import Unit, read_inside


def unit_module(graph: Graph, unit: Unit) -> torch.fx.GraphModule:
    """forward(*unit.inputs, *weights) -> unit.outputs."""
    sub = Graph(f"{graph.name}_unit")
    mapping = {}
    for v in unit.inputs:
        mapping[id(v)] = sub.add_input(v.name, plain(v.type))
    for w in unit.weights:
        mapping[id(w.value)] = sub.add_input(w.value.name, plain(w.value.type))
    outputs = {id(v) for v in unit.outputs}
    for node in unit.nodes:
        for v in node.inputs:
            if v is not None and id(v) not in mapping:  # a constant the unit reads (a bias, a shape)
                const = v.producer
                mapping[id(v)] = sub.append(Node("const", [], [v.type], dict(const.attrs), [v.name])).output
        types = [plain(v.type) if id(v) in outputs and not read_inside(v, unit) else v.type for v in node.outputs]
        copy = Node(node.op, [None if v is None else mapping[id(v)] for v in node.inputs], types, dict(node.attrs),
                    [v.name for v in node.outputs])
        sub.append(copy)
        mapping.update({id(old): new for old, new in zip(node.outputs, copy.outputs)})
    sub.set_outputs(mapping[id(v)] for v in unit.outputs)
    module = to_torch(sub)
    return module.requires_grad_(False)  # only the rounding variables learn


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


def values_of(graph: Graph, names: list, batches: list) -> list:
    """The values named `names` computed by `graph` (a copy of it cut down to what they
    need) on every batch, concatenated along the batch axis: one tensor per name."""
    copy = clone(graph)
    copy.set_outputs(copy.find(name) for name in names)
    wanted = {id(v) for v in copy.outputs}
    for node in reversed(copy.nodes):
        if not any(v.uses or id(v) in wanted for v in node.outputs):
            copy.erase(node)
    module = to_torch(copy)
    with torch.no_grad():
        results = [module(*inputs) for inputs in batches]
    return [torch.cat([r[i] for r in results]) for i in range(len(names))]
