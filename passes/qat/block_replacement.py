"""BR-QAT (Yu et al. 2024, "Improving Quantization-aware Training of Low-Precision
Network via Block Replacement on Full-Precision Counterpart"): besides the quantized
backbone, train mixed models, one per block: the float model with block i replaced by
its quantized twin. Each mixed model's loss, added to the backbone's, trains block i in
a float context: its inputs come from float blocks (fake-quantized where the backbone
quantizes them) and its outputs are judged through float blocks, which gives each block
a gradient free of the quantization error of the others.

What a mixed model trains, and against what (measured on the digits ResNet at W2A4 and
W2A2, bench/RESULTS.md, "BR-QAT done right"):

- the block's weights and float biases, shared with the backbone: nothing else. The
  float blocks are the float model's, frozen (buffers: no `origin`). The quantizers'
  step sizes, the block's weights' and the activations' it reads and makes, are the
  backbone's, used as they stand (frozen_steps): the grid is the one the fully
  quantized model deploys, so only the backbone's loss fits it. Mixed losses that
  also moved the steps pulled them towards the float context, 3-7 times harder than
  the backbone's gradient on the first blocks: W2A4 7 points below LSQ, 4x the spread.
- its loss distils the float model's outputs (losses.distillation_loss: kl for a
  classifier), as the paper distils its mixed branches, whatever labels the backbone
  trains on.
- the mixed losses are averaged, so together they weigh as much as the backbone's: with
  their sum (weight 1 each) a block's float-context gradient, 3-7 times the backbone's
  on the first blocks, set its direction (W2A4 seed 1: 80.6% summed, 87.1% averaged).

Blocks are adaround's BRECQ blocks (passes/rounding/units.py: runs of layers closed by
an add or a concat, or after `block_layers` layers).
"""
from __future__ import annotations

import numpy as np
import torch

from qcompiler.ir.clone import clone
from qcompiler.ir.core import Graph
from qcompiler.ir.dense import Dense
from qcompiler.ir.ops.infer import plain
from qcompiler.ir.types import QuantType
from qcompiler.numerics.affine import dequantize
from qcompiler.runtime.fake_quant import learned_fake_quantize

from ..rounding.units import partition, units
from .losses import distillation_loss, training_loss
from .step_sizes import StepSize
from .training_module import TrainingModule


class MixedModels:
    def __init__(self, graph: Graph, weights: list, method: str, backbone: TrainingModule, block_layers: int,
                 loss):
        self.loss = loss
        self.blocks = units(partition(graph, weights, "block", block_layers))
        self.graphs = [mixed_graph(graph, block, weights) for block in self.blocks]
        self.models = [frozen_steps(TrainingModule(g, list(block.weights), method, shared=backbone).module.train())
                       for g, block in zip(self.graphs, self.blocks)]

    def __call__(self, inputs: list, labels, teacher: list) -> torch.Tensor:
        """The mean of the mixed models' losses; `teacher`: the float model's outputs for
        `inputs`."""
        loss = distillation_loss(self.loss, labels)
        losses = [training_loss(loss, list(model(*inputs)), None, teacher) for model in self.models]
        return sum(losses) / len(losses)


def frozen_steps(module: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """`module` with each learned step size it calls replaced by a view of the same step
    that passes no gradient to it (binary weights have no step of their own: their scale
    is their weights' mean magnitude)."""
    # every name: a tie group's values call one step under several names (named_children lists it once)
    for name, child in list(module.named_modules(remove_duplicate=False)):
        if isinstance(child, StepSize) and "." not in name:
            setattr(module, name, _FrozenStep(child))
    return module


class _FrozenStep(torch.nn.Module):
    def __init__(self, step: StepSize):
        super().__init__()
        self._step = [step]  # in a list: not a submodule, so its parameters are not the mixed model's

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        step = self._step[0]
        return learned_fake_quantize(x, step.scale().detach(), step.zero_point, step.qmin, step.qmax,
                                     step.grad_scale)


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
