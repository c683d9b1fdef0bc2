"""The graph as a torch module (the torch executor) whose layer weights can be swapped
for other tensors, whose layer inputs and outputs can be read, and whose layer inputs
can be transformed: everything a sensitivity metric does to a model."""
from __future__ import annotations

from typing import Optional

import torch
import torch.fx as fx
from torch.func import functional_call

from qcompiler.ir.core import Graph
from qcompiler.ir.registry import get_op, is_opaque
from qcompiler.runtime.torch import _identifier, to_torch

from .errors import SensitivityError


class TorchModel:
    def __init__(self, graph: Graph, layers: list):
        self.graph = graph
        self.module = to_torch(graph)
        by_name = {n.name: n for n in self.module.graph.nodes}
        self.fx_node = {layer.name: self._layer_node(by_name, layer) for layer in layers}
        # attribute of the module holding each weight value, by id(Value)
        self.attr = {}
        for layer in layers:
            node = self.fx_node[layer.name]
            for use in layer.weights:
                operand = next(i for i, v in enumerate(layer.node.inputs) if v is use.weight)
                getter = node.args[operand]
                if not isinstance(getter, fx.Node) or getter.op != "get_attr":
                    raise SensitivityError(f"weight %{use.weight.name} of {layer.node.label()} is not a plain float "
                                           "constant in the torch executor (is the graph already quantized?)")
                self.attr[id(use.weight)] = getter.target

    @staticmethod
    def _layer_node(by_name: dict, layer) -> fx.Node:
        node = by_name.get(_identifier(layer.name))
        if node is None or node.op != "call_function" or node.target is not get_op(layer.node.op).torch:
            raise SensitivityError(f"cannot find {layer.node.label()} in the torch executor's module")
        return node

    def float_weight(self, use) -> torch.Tensor:
        return getattr(self.module, self.attr[id(use.weight)]).detach()

    def __call__(self, inputs: tuple, weights: Optional[dict] = None) -> tuple:
        """Outputs with the weights in `weights` (id(Value) -> tensor) replacing the graph's."""
        if not weights:
            return self.module(*inputs)
        return functional_call(self.module, {self.attr[k]: w for k, w in weights.items()}, tuple(inputs))

    def probe(self, inputs: tuple, record=(), transform: Optional[dict] = None) -> tuple:
        """(outputs, {layer name: (data input, output)} for the layers in `record`), with
        the data input of each layer in `transform` (name -> function) transformed first."""
        probe = _Probe(self.module, {self.fx_node[name].name: name for name in record},
                       {self.fx_node[name].name: fn for name, fn in (transform or {}).items()})
        outputs = probe.run(*inputs)
        return outputs, probe.recorded


def opaque_nodes(graph: Graph) -> list:
    """Nodes torch cannot differentiate through (they run in onnxruntime)."""
    return [n for n in graph.nodes if is_opaque(n.op)]


class _Probe(fx.Interpreter):
    def __init__(self, module: fx.GraphModule, record: dict, transform: dict):
        super().__init__(module)
        self.record, self.transform, self.recorded = record, transform, {}

    def run_node(self, n: fx.Node):
        if n.name not in self.record and n.name not in self.transform:
            return super().run_node(n)
        args, kwargs = self.fetch_args_kwargs_from_env(n)
        if n.name in self.transform:
            args = (self.transform[n.name](args[0]),) + tuple(args[1:])
        out = getattr(self, n.op)(n.target, args, kwargs)
        if n.name in self.record:
            self.recorded[self.record[n.name]] = (args[0], out)
        return out

