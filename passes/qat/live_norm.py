"""Live BatchNorm during qat (`qat{bn=live}`): train every conv with a batch normalization
of its output channels, then fold it back into the conv.

fold-bn runs before calibration, so by qat's time BatchNorm is folded and frozen at the
float model's statistics. After `prune` (or AutoQB's binary channels) those statistics
no longer fit: removing half of a layer's input channels moves its outputs far from them.
Re-estimating them once (prune{recalibrate=true}) gives back about a point on the digits
residual CNN; what a float model retrained with live BatchNorm recovers comes from
training *with* the normalization: each step's batch statistics re-centre and re-scale
every channel as the weights move. So each trained conv gets a LiveNorm between its
product (weights fake-quantized as usual, bias added) and its fused activation:

    y = conv(x, Q(W), b);  y' = γ (y − μ_B) / sqrt(σ²_B + eps) + β;  out = Q_act(act(y'))

γ and β start at the float model's statistics (qat's teacher: the graph with quantize's
float weights) on the calibration data: β = its channel mean, γ = its channel standard
deviation before the activation, so each channel starts as the float model has it
whatever the quantized weights did to it: BatchNorm recalibration towards the float
model, which is what AutoQB's binary channels need. Without calibration data they start
as the identity on the first batch. After a prune the float model is the pruned one, so
run prune with recalibrate=true to start from the unpruned statistics. On the digits
residual CNN with 50% of the channels pruned (bench/RESULTS.md), ten epochs give 81.6%
frozen, 88.1% recalibrated and frozen, 93.1% recalibrated and live (live alone 91.7%;
float with live BatchNorm 95.6%); with 15%-size binary channel groups, two epochs give
91.6% frozen and 96.1% live (fp32 96.5%).

After training, the running statistics are estimated again over one epoch of the
training data with the weights fixed (their cumulative average, not the momentum's last
batches), and each LiveNorm is folded:
k = γ / sqrt(running var + eps), W ← k·W, b ← k·(b − running mean) + β, and the
weight's per-channel step ← |k|·step, so k·Q(W) = Q(k·W) under the new step: the folded
layer computes what the normalized one did, and write_back stores it as usual. Channels
whose weights are all zero keep their step (their integers are zero whatever it is).

The folded graph no longer says which convs had a BatchNorm; every trained conv gets
one (a conv that had none gains a per-channel affine that folds away exactly). Needs
per-output-channel weight steps (a per-tensor step cannot take a factor per channel)
and a float bias of the conv's own (fold-bn gives every folded conv one).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from qcompiler.ir.core import Graph, Node
from qcompiler.ir.ops.fused import FUSED_ACTIVATION_ATTRS, apply_fused_activation
from qcompiler.ir.registry import get_op
from qcompiler.runtime.product_rounding import product_rounding
from qcompiler.runtime.torch import _literal

from ..compression.recalibrate import channel_statistics
from ..rounding.unit_graph import float_graph
from .errors import QATError

NORMALIZED_OPS = ("conv1d", "conv2d")
EPS = 1e-5
MOMENTUM = 0.1  # torch's BatchNorm default, for the running statistics while training


class LiveNorm(torch.nn.Module):
    def __init__(self, channels: int, layer_name: str, weight_name: str, bias_name: str):
        super().__init__()
        self.layer_name, self.weight_name, self.bias_name = layer_name, weight_name, bias_name
        self.start = None  # (mean, std) per channel to start from; None: the identity on the first batch
        self.gamma = torch.nn.Parameter(torch.ones(channels))
        self.beta = torch.nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))
        self.started = False
        self.batches = None  # counting batches: the statistics are being re-estimated as their plain average

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        if self.training and not self.started:
            with torch.no_grad():
                dims = [d for d in range(y.dim()) if d != 1]
                mean, var = y.mean(dims), y.var(dims, unbiased=False)
                gamma, beta = ((var + EPS).sqrt(), mean) if self.start is None else (self.start[1], self.start[0])
                self.gamma.copy_(gamma)
                self.beta.copy_(beta)
                self.running_mean.copy_(mean)
                self.running_var.copy_(var)
            self.started = True
        momentum = MOMENTUM
        if self.training and self.batches is not None:
            self.batches += 1
            momentum = 1.0 / self.batches
        return F.batch_norm(y, self.running_mean, self.running_var, self.gamma, self.beta, self.training, momentum,
                            EPS)

    def restart_statistics(self) -> None:
        """From now on (in training mode) the running statistics average every batch alike."""
        self.batches = 0

    def fold_factors(self) -> tuple:
        """(k, shift) with γ (y − mean) / sqrt(var + eps) + β = k·y + shift."""
        with torch.no_grad():
            k = self.gamma / (self.running_var + EPS).sqrt()
            return k, self.beta - k * self.running_mean


def emit(builder, node: Node, weight_steps: dict, floats: dict) -> LiveNorm:
    """Add `node` to the builder's fx graph as conv -> LiveNorm -> fused activation -> output quantizer."""
    w, b = node.inputs[1], node.inputs[2] if len(node.inputs) > 2 else None
    weight, _, _ = weight_steps[w.name]
    if weight.value.type.axis != 0:
        raise QATError(f"qat{{bn=live}}: weight %{w.name} of {node.label()} has a per-tensor step; the folded "
                       "normalization scales each output channel (quantize with granularity=channel)")
    if b is None or b.name not in floats:
        raise QATError(f"qat{{bn=live}}: {node.label()} has no float bias constant to fold the normalization's "
                       "shift into (fold-bn gives every conv it folds one)")
    d = get_op(node.op)
    args = tuple(builder.env[id(v)] if v is not None else None for v in node.inputs)
    attrs = {k: _literal(v) for k, v in d.with_defaults(node.attrs).items() if k in d.attrs}
    attrs.update({k: None for k in FUSED_ACTIVATION_ATTRS if k in attrs})
    result = builder.fx.create_node("call_function", d.torch, args, attrs)
    norm = LiveNorm(int(w.type.shape[0]), node.outputs[0].name, w.name, b.name)
    result = builder.fx.call_module(builder._register(f"{node.outputs[0].name}.live_norm", norm), (result,))
    rounding = product_rounding(node)
    if rounding is not None and rounding.intermediate is not None:
        result = builder._fake_quantized(result, rounding.intermediate, f"{node.outputs[0].name}_pre")
    fused = {k: _literal(node.attrs.get(k)) for k in FUSED_ACTIVATION_ATTRS}
    result = builder.fx.call_function(apply_fused_activation, (result,), {"use_torch": True, **fused})
    builder.env[id(node.outputs[0])] = builder._quantized(result, node.outputs[0])
    return norm


def start_at_float_statistics(norms: list, graph: Graph, weights: list, ctx) -> None:
    """Each norm starts at the float model's channel statistics of its layer on the calibration data."""
    if not norms:
        return
    if ctx.calibration is None:
        ctx.note("qat{bn=live}: no calibration data; the normalizations start as the identity")
        return
    floating = float_graph(graph, weights)
    layers = [floating.find(norm.layer_name).producer for norm in norms]
    for norm, (mean, std) in zip(norms, channel_statistics(floating, layers, ctx.calibration)):
        norm.start = tuple(torch.from_numpy(a).to(norm.gamma.dtype) for a in (mean, std))


def reestimate(module: torch.nn.Module, norms: list, batches) -> None:
    """The running statistics again, averaged over `batches` (input lists) with the weights fixed."""
    for norm in norms:
        norm.restart_statistics()
    module.train()
    with torch.no_grad():
        for inputs in batches:
            module(*inputs)


def fold(norms: list, weight_steps: dict, floats: dict) -> None:
    """Each LiveNorm into its conv's float weight, per-channel step and bias (see the module docstring)."""
    for norm in norms:
        k, shift = norm.fold_factors()
        _, parameter, step = weight_steps[norm.weight_name]
        _, bias = floats[norm.bias_name]
        view = (-1,) + (1,) * (parameter.dim() - 1)
        with torch.no_grad():
            alive = parameter.reshape(parameter.shape[0], -1).ne(0).any(1)
            gain = torch.where(alive, k.abs(), torch.ones_like(k))
            parameter.mul_(k.reshape(view))
            bias.copy_(k * bias + shift)
            if hasattr(step, "log_step"):  # LSQ
                step.log_step.add_(gain.log().reshape(step.log_step.shape))
            elif hasattr(step, "calibrated"):  # FAT
                step.calibrated.mul_(gain.reshape(step.calibrated.shape))
            # a binary step is the weights' mean magnitude: it follows the scaled weights
