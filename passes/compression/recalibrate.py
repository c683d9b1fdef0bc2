"""BatchNorm recalibration after pruning, on the folded graph (`prune{recalibrate=true}`).

fold-bn runs before prune, so a pruned layer keeps the normalization the unpruned model's
statistics gave it; removing half of a layer's input channels moves its output far from
them, and every later layer sees inputs it was not trained for. Re-estimating the
BatchNorm statistics on the pruned model (a forward pass in training mode) would give
each channel back the mean and spread its BatchNorm produced. The folded graph no longer
has γ and β, so the target is measured instead: the per-output-channel mean and standard
deviation of each pruned layer's pre-activation result on the calibration data, before
pruning. After pruning, layer by layer in graph order (each layer sees the already
recalibrated layers before it), the channel's weights are scaled by target std / current
std and its bias moved to the target mean. A channel left with no spread (every weight
pruned) outputs a constant; it becomes the target mean, as BatchNorm gives such a channel
its β.

Layers without a float bias constant are left as pruned, with a note: fold-bn gives every
layer it folds a bias, so these never had a BatchNorm to recalibrate.
"""
from __future__ import annotations

import numpy as np
import torch

from qcompiler.ir.clone import clone
from qcompiler.ir.core import Graph, Node
from qcompiler.ir.dense import Dense
from qcompiler.ir.ops.fused import FUSED_ACTIVATION_ATTRS
from qcompiler.ir.registry import get_op
from qcompiler.ir.types import is_float
from qcompiler.runtime.torch import to_torch

from ..calibration.data import calibration_batches
from .errors import CompressionError

MIN_STD = 1e-8  # below this a channel is a constant (its weights all pruned)


def recalibration_layers(graph: Graph, layers: list, ctx) -> list:
    """The layers of `layers` with a float bias constant read only by them; a note for the others."""
    chosen = []
    for node in layers:
        bias = node.inputs[2] if len(node.inputs) > 2 else None
        if bias is None or graph.const_value(bias) is None or not is_float(bias.type) or len(bias.users) > 1:
            ctx.note("no float bias of its own (not a folded BatchNorm): not recalibrated", node=node.outputs[0].name)
            continue
        if node.op == "linear" and node.outputs[0].type.rank != 2:
            ctx.note("a linear layer with more than 2 dims has its channels last: not recalibrated",
                     node=node.outputs[0].name)
            continue
        if len(node.inputs[1].users) > 1:
            ctx.note("its weight is shared with other layers: not recalibrated", node=node.outputs[0].name)
            continue
        chosen.append(node)
    return chosen


def channel_statistics(graph: Graph, layers: list, calibration) -> list:
    """(mean, std) per output channel of each layer's result before its fused activation."""
    if calibration is None:
        raise CompressionError("prune{recalibrate=true} measures channel statistics on calibration data: pass "
                               "calibration=... to compile")
    probe = clone(graph)
    by_name = {v.name: v for v in probe.values()}
    probe.set_outputs(by_name[n.inputs[0].name] for n in layers)
    module = to_torch(probe)
    sums = [None] * len(layers)
    count = [0] * len(layers)
    for batch in calibration_batches(calibration, graph)[0]:
        inputs = [torch.from_numpy(np.ascontiguousarray(batch[v.name])) for v in graph.inputs]
        with torch.no_grad():
            layer_inputs = module(*inputs)
            for k, (node, x) in enumerate(zip(layers, layer_inputs)):
                y = _pre_activation(graph, node, x).double()
                channels = y.transpose(0, 1).reshape(y.shape[1], -1)
                moments = torch.stack([channels.sum(1), channels.square().sum(1)]).numpy()
                sums[k] = moments if sums[k] is None else sums[k] + moments
                count[k] += channels.shape[1]
    if not count or count[0] == 0:
        raise CompressionError("prune{recalibrate=true}: the calibration data is empty")
    stats = []
    for (total, squares), n in zip(sums, count):
        mean = total / n
        stats.append((mean, np.sqrt(np.maximum(squares / n - mean ** 2, 0.0))))
    return stats


def recalibrate(graph: Graph, layers: list, targets: list, calibration) -> None:
    """Give each of `layers` (graph order) its target (mean, std) per output channel."""
    for k, (node, (target_mean, target_std)) in enumerate(zip(layers, targets)):
        mean, std = channel_statistics(graph, [node], calibration)[0]
        live = std > MIN_STD
        gain = np.where(live, target_std / np.where(live, std, 1.0), 1.0)
        weight, bias = (graph.const_value(node.inputs[i]) for i in (1, 2))
        shape = (-1,) + (1,) * (weight.ndim - 1)
        new_bias = np.where(live, (bias.astype(np.float64) - mean) * gain + target_mean, target_mean)
        node.inputs[1].producer.attrs["value"] = Dense((weight * gain.reshape(shape)).astype(weight.dtype))
        node.inputs[2].producer.attrs["value"] = Dense(new_bias.astype(bias.dtype))


def _pre_activation(graph: Graph, node: Node, x: torch.Tensor) -> torch.Tensor:
    d = get_op(node.op)
    attrs = {k: v for k, v in d.with_defaults(node.attrs).items() if k in d.attrs and k not in FUSED_ACTIVATION_ATTRS}
    weight, bias = (torch.from_numpy(np.array(graph.const_value(node.inputs[i]))).to(x.dtype) for i in (1, 2))
    y = d.torch(x, weight, bias, **attrs)
    return y if y.dim() > 1 else y.reshape(1, -1)
