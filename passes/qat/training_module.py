"""The quantized graph as a module QAT trains: the torch executor's GraphModule
(runtime/torch.py), with

- each learned weight a float nn.Parameter (its float values from quantize's cache)
  fake-quantized in the forward pass by its own StepSize (per tensor or per channel, as
  quantize stored it), rather than the fixed integers the executor reads;
- each per-tensor quantized activation fake-quantized by a StepSize shared by every
  value of the same type: quantize gives a tie group (concat operands, pass-through
  results) one type, and sharing the parameter keeps the group tied while it learns;
- float constants from the model (biases) nn.Parameters, as the executor makes them;
- binary (b1) weights quantized as sign × mean magnitude (binary_step.py), so they stay
  binary; pruned weights (a layer `prune` marked with `q.sparsity`, its weight's exact
  zeros) held at zero: their gradient is masked and `project` zeroes them again after
  every step (weight decay or momentum could otherwise move them), so the sparsity
  `prune` chose is the one deployed.

BatchNorm is gone by now: fold-bn folded it into the conv weights before calibration,
so its statistics are frozen at the float model's, and QAT trains the folded weights;
with `live_bn` each trained conv normalizes again with batch statistics, folded back
after training (live_norm.py).
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from qcompiler.ir.core import Graph, Node, Value
from qcompiler.ir.types import QuantType, TensorType
from qcompiler.runtime.torch import _Builder

from . import live_norm
from .binary_step import BinaryStep
from .errors import QATError
from .step_sizes import StepSize
from .trained_weights import is_binary

PRUNED_ATTR = "q.sparsity"  # what prune writes on a layer (passes/compression/prune.py)


class TrainingModule:
    """`module` (forward(*inputs) -> outputs), the step sizes by what they quantize
    (a weight's Value, or an activation's tie_key), the trained float constants."""

    def __init__(self, graph: Graph, weights: list, method: str, shared: Optional["TrainingModule"] = None,
                 live_bn: bool = False):
        """`shared`: take the parameters of the values it has from it (BR-QAT's mixed
        models share the backbone's weights and step sizes; block_replacement.py freezes
        the steps there). `live_bn`: each trained
        conv normalizes its outputs with batch statistics (live_norm.py)."""
        builder = _TrainingBuilder(graph, {w.value.name: w for w in weights}, method, shared, live_bn)
        self.module = builder.build()
        self.weight_steps = builder.weight_steps      # weight value name -> (Weight, Parameter, StepSize)
        self.activation_steps = builder.activation_steps  # tie_key -> StepSize
        self.floats = builder.floats                  # const result name -> (const Node, Parameter)
        self.masks = builder.masks                    # weight value name -> (Parameter, keep mask) of pruned weights
        self.norms = builder.norms                    # LiveNorm modules (live_bn), folded before write-back

    def step_sizes(self) -> list:
        return [s for _, _, s in self.weight_steps.values()] + list(self.activation_steps.values())

    def scale_parameters(self) -> list:
        return [p for s in self.step_sizes() for p in s.parameters()]

    def project(self) -> None:
        """Back into the allowed set after an optimizer step: step sizes, pruned zeros."""
        for step in self.step_sizes():
            step.project()
        with torch.no_grad():
            for parameter, keep in self.masks.values():
                parameter.mul_(keep)

    def weight_parameters(self) -> list:
        return [p for _, p, _ in self.weight_steps.values()] + [p for _, p in self.floats.values()] + \
            [p for norm in self.norms for p in norm.parameters()]


class _TrainingBuilder(_Builder):
    def __init__(self, graph: Graph, weights: dict, method: str, shared: Optional[TrainingModule], live_bn: bool):
        super().__init__(graph)
        self.live_bn, self.norms = live_bn, []
        self.weights, self.method = weights, method
        self.weight_steps: dict = {}
        self.activation_steps: dict = {} if shared is None else shared.activation_steps
        self.floats: dict = {}
        self.masks: dict = {} if shared is None else shared.masks
        self.shared = shared

    def _call(self, node: Node) -> None:
        if self.live_bn and node.op in live_norm.NORMALIZED_OPS and node.inputs[1].name in self.weight_steps:
            self.norms.append(live_norm.emit(self, node, self.weight_steps, self.floats))
        else:
            super()._call(node)

    def _constant(self, node: Node):
        name = node.output.name
        weight = self.weights.get(name)
        if weight is not None:
            return self._learned_weight(node, weight)
        origin = node.attrs.get("origin")
        t = node.output.type
        if origin and isinstance(t, TensorType) and np.issubdtype(node.attrs["value"].array.dtype, np.floating):
            parameter = (self.shared.floats[name][1] if self.shared is not None else
                         torch.nn.Parameter(torch.from_numpy(np.array(node.attrs["value"].array))))
            self.floats[name] = (node, parameter)
            return self.fx.get_attr(self._register(origin, parameter))
        return super()._constant(node)

    def _learned_weight(self, node: Node, weight):
        t = node.output.type
        if t.group is not None:
            raise QATError(f"qat: weight %{node.output.name} is quantized group-wise; qat learns per-tensor or "
                           "per-channel step sizes (quantize with granularity=tensor or channel)")
        if self.shared is not None:
            _, parameter, step = self.shared.weight_steps[node.output.name]
        else:
            array = np.asarray(weight.float_value, np.float32)
            parameter = torch.nn.Parameter(torch.from_numpy(array.copy()))
            if is_binary(weight):
                step = BinaryStep(parameter, t.axis, self.method)
            else:
                per_step = array.size // (array.shape[t.axis] if t.axis is not None else 1)
                step = StepSize(t, array.shape, self.method, per_step)
                step.qmin, step.qmax = weight.qmin, weight.qmax  # the reduced range of AVX2 weights, if set
                if weight.layer.attrs.get(PRUNED_ATTR):
                    self._mask(node.output.name, parameter, array)
        hint = node.attrs.get("origin") or node.output.name
        self.weight_steps[node.output.name] = (weight, parameter, step)
        value = self.fx.get_attr(self._register(hint, parameter))
        return self.fx.call_module(self._register(f"{hint}.step", step), (value,))

    def _mask(self, name: str, parameter: torch.nn.Parameter, array: np.ndarray) -> None:
        keep = torch.from_numpy(array != 0).to(parameter.dtype)
        parameter.register_hook(lambda grad: grad * keep)
        self.masks[name] = (parameter, keep)

    def _quantized(self, x, v: Value):
        t = v.type
        if not isinstance(t, QuantType) or t.storage == "b1" or t.axis is not None:
            return super()._quantized(x, v)
        step = self.activation_steps.get(tie_key(t))
        if step is None:
            step = self.activation_steps[tie_key(t)] = StepSize(t, (), self.method, _features(v))
        return self.fx.call_module(self._register(f"{v.name}.step", step), (x,))


def tie_key(t: QuantType) -> tuple:
    """What the values of one tie group share: their parameters, not their shapes (a
    flatten's result has its operand's parameters and another shape)."""
    return t.storage, t.expressed, t.scale, t.zero_point


def _features(v: Value) -> int:
    """Elements of one sample of `v` (LSQ's N for an activation); symbolic dims count 1."""
    dims = v.type.shape[1:] if len(v.type.shape) > 1 else v.type.shape
    return int(np.prod([d for d in dims if isinstance(d, int)] or [1]))
