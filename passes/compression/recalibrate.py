"""BatchNorm recalibration after pruning, on the folded graph (`prune{recalibrate=true}`).

fold-bn runs before prune, so a pruned layer keeps the normalization the unpruned model's
statistics gave it; removing half of a layer's input channels moves its output far from
them, and every later layer sees inputs it was not trained for. Re-estimating the
BatchNorm statistics on the pruned model (a forward pass in training mode) would give
each channel back the mean and spread its BatchNorm produced. The folded graph no longer
has γ and β, so the target is measured instead: the per-output-channel mean and standard
deviation of each pruned layer's pre-activation result on the calibration data, before
pruning. After pruning, the channel's weights are scaled by target std / current std and
its bias moved to the target mean. A channel left with no spread (every weight pruned)
outputs a constant; it becomes the target mean, as BatchNorm gives such a channel its β.

Each layer must see the already recalibrated layers before it, so the pruned graph runs
once over the calibration data, node by node in graph order with every batch advancing
together (the reference interpreter, as bias-correct{drift=true} streams its samples): at
a layer, the statistics of all batches' inputs set its weights and bias before any batch
runs it. One forward instead of one per layer, but memory holds the live values of every
calibration sample at once: keep the calibration set small (a few hundred digits, a few
dozen 224x224 images).

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
from qcompiler.ir.registry import get_op, run_reference
from qcompiler.ir.types import is_float
from qcompiler.numerics.fused_activation import fused_function
from qcompiler.runtime.reference import as_float, bind_inputs, release_plan, run_node, to_runtime
from qcompiler.runtime.torch import to_torch

from ..calibration.data import calibration_batches
from .errors import CompressionError

MIN_STD = 1e-8  # below this a channel is a constant (its weights all pruned)
EMPTY = "prune{recalibrate=true}: the calibration data is empty"


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


class ChannelMoments:
    """Per-output-channel mean and spread of a layer's results, batch after batch. Each
    batch's squared deviations are taken from its own mean and merged (Chan et al.), so a
    constant channel (every weight pruned) has a spread of exactly 0, not the rounding
    noise of E[y²] - E[y]², which MIN_STD would take for a live channel."""

    def __init__(self):
        self.count, self.mean, self.squares = 0, None, None

    def add(self, y: np.ndarray) -> None:
        y = y if y.ndim > 1 else y.reshape(1, -1)
        channels = np.moveaxis(y, 1, 0).reshape(y.shape[1], -1).astype(np.float64)
        n = channels.shape[1]
        if n == 0:
            return
        mean = channels.mean(1)
        squares = np.square(channels - mean[:, None]).sum(1)
        if self.count == 0:
            self.mean, self.squares = mean, squares
        else:
            total, delta = self.count + n, mean - self.mean
            self.squares = self.squares + squares + delta ** 2 * (self.count * n / total)
            self.mean = self.mean + delta * (n / total)
        self.count += n

    def mean_std(self) -> tuple:
        if self.count == 0:
            raise CompressionError(EMPTY)
        return self.mean, np.sqrt(self.squares / self.count)


def channel_statistics(graph: Graph, layers: list, calibration) -> list:
    """(mean, std) per output channel of each layer's result before its fused activation."""
    _check_calibration(calibration)
    if not layers:
        return []
    probe = clone(graph)
    by_name = {v.name: v for v in probe.values()}
    probe.set_outputs(by_name[n.inputs[0].name] for n in layers)
    module = to_torch(probe)
    moments = [ChannelMoments() for _ in layers]
    for batch in calibration_batches(calibration, graph)[0]:
        inputs = [torch.from_numpy(np.ascontiguousarray(batch[v.name])) for v in graph.inputs]
        with torch.no_grad():
            for node, x, seen in zip(layers, module(*inputs), moments):
                seen.add(_torch_pre_activation(graph, node, x).double().numpy())
    return [seen.mean_std() for seen in moments]


def recalibrate(graph: Graph, layers: list, targets: list, calibration) -> None:
    """Give each of `layers` its target (mean, std) per output channel, in one forward of
    the calibration data through `graph` that stops after the last of them."""
    if not layers:
        return
    _check_calibration(calibration)
    todo = {id(node): target for node, target in zip(layers, targets)}
    envs = [bind_inputs(graph, batch) for batch in calibration_batches(calibration, graph)[0]]
    if not envs:
        raise CompressionError(EMPTY)
    for node, dead in zip(list(graph.nodes), release_plan(graph)):
        if id(node) in todo:
            results = _recalibrated_results(graph, node, envs, todo.pop(id(node)))
            if not todo:
                return
        else:
            results = (run_node(node, [env[id(v)] if v is not None else None for v in node.inputs]) for env in envs)
        for env, outs in zip(envs, results):
            env.update((id(v), np.asarray(a)) for v, a in zip(node.outputs, outs))
            for v in dead:
                env.pop(id(v), None)


def _recalibrated_results(graph: Graph, node: Node, envs: list, target: tuple) -> list:
    """Rewrite `node` to its `target` statistics, measured on every batch's result, and
    return the results of the rewritten node derived from those: its new pre-activation
    result is an affine map of the old one per channel, so the convolution runs once."""
    x = node.inputs[0]
    results = [_pre_activation(graph, node, as_float(env[id(x)], x.type)) for env in envs]
    seen = ChannelMoments()
    for y in results:
        seen.add(y)
    gain, offset = match_statistics(graph, node, seen.mean_std(), target)
    activation, out_type = fused_function(node), node.outputs[0].type
    for i, y in enumerate(results):
        channels = [-1 if d == min(1, y.ndim - 1) else 1 for d in range(y.ndim)]
        rewritten = (y * gain.reshape(channels) + offset.reshape(channels)).astype(y.dtype)
        results[i] = [to_runtime(activation(rewritten), out_type)]
    return results


def match_statistics(graph: Graph, node: Node, current: tuple, target: tuple) -> tuple:
    """Scale `node`'s output channels and move its bias from their `current` (mean, std) to
    `target`. Returns (gain, offset) per channel: the new pre-activation result is gain ·
    the old one + offset."""
    (mean, std), (target_mean, target_std) = current, target
    live = std > MIN_STD
    gain = np.where(live, target_std / np.where(live, std, 1.0), 1.0)
    weight, bias = (graph.const_value(node.inputs[i]) for i in (1, 2))
    shape = (-1,) + (1,) * (weight.ndim - 1)
    new_bias = np.where(live, (bias.astype(np.float64) - mean) * gain + target_mean, target_mean)
    node.inputs[1].producer.attrs["value"] = Dense((weight * gain.reshape(shape)).astype(weight.dtype))
    node.inputs[2].producer.attrs["value"] = Dense(new_bias.astype(bias.dtype))
    return gain, new_bias - gain * bias


def _check_calibration(calibration) -> None:
    if calibration is None:
        raise CompressionError("prune{recalibrate=true} measures channel statistics on calibration data: pass "
                               "calibration=... to compile")


def _without_activation(node: Node) -> dict:
    return {k: v for k, v in node.attrs.items() if k not in FUSED_ACTIVATION_ATTRS}


def _pre_activation(graph: Graph, node: Node, x: np.ndarray) -> np.ndarray:
    weight, bias = (graph.const_value(node.inputs[i]) for i in (1, 2))
    return run_reference(node.op, [x, weight, bias], _without_activation(node))[0]


def _torch_pre_activation(graph: Graph, node: Node, x: torch.Tensor) -> torch.Tensor:
    d = get_op(node.op)
    attrs = {k: v for k, v in d.with_defaults(_without_activation(node)).items() if k in d.attrs}
    weight, bias = (torch.from_numpy(np.array(graph.const_value(node.inputs[i]))).to(x.dtype) for i in (1, 2))
    return d.torch(x, weight, bias, **attrs)
