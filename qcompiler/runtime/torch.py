"""The torch executor: an IR graph as a differentiable torch.fx.GraphModule.

    gm = to_torch(graph)          # forward(*inputs) -> tuple of outputs
    loss = gm(x)[0].sum(); loss.backward()

Each node calls its op's `@torch_impl` with the node's attributes. Float constants that
come from the model (they have an `origin`) are nn.Parameters named after it
("features.0.weight" -> `features_0_weight`), so passes can fine-tune them; other
constants are buffers. A value whose type is a QuantType or a MinifloatType is
fake-quantized where it is produced (a minifloat constant too, so training keeps its
float weight and rounds it in the forward pass); a constant with a QuantType holds
integers and is dequantized; a product of quantized operands rounds as the integer
kernel does (bias, table-activation intermediate: product_rounding.py); a codebook
constant is a CodebookWeight module (trainable codewords, fixed indices). Opaque
`onnx.*` nodes run in onnxruntime: the module still runs, without gradients through them.
"""
from __future__ import annotations

import operator
import re
from typing import Optional

import numpy as np
import torch
import torch.fx as fx

from ..ir.core import Graph, Node, Value
from ..ir.ops.fused import FUSED_ACTIVATION_ATTRS, apply_fused_activation
from ..ir.registry import get_op, is_opaque
from ..ir.types import CodebookType, MinifloatType, QuantType, TensorType, Type
from .codebook import CodebookWeight
from .fake_minifloat import fake_minifloat, minifloat_params
from .fake_quant import dequantize, fake_quantize, quant_params
from .product_rounding import product_rounding
from .reference import ExecutionError, Inputs, as_float, bind_inputs

__all__ = ["to_torch", "run_torch"]


def to_torch(graph: Graph) -> fx.GraphModule:
    return _Builder(graph).build()


def run_torch(graph: Graph, inputs: Inputs) -> list:
    """Run `graph` with the torch executor; inputs as for the reference interpreter."""
    env = bind_inputs(graph, inputs)
    tensors = [torch.from_numpy(np.array(as_float(env[id(v)], v.type))) for v in graph.inputs]
    with torch.no_grad():
        outputs = to_torch(graph)(*tensors)
    return [t.detach().numpy() for t in outputs]


class OpaqueCall(torch.nn.Module):
    """Runs one opaque `onnx.*` node through onnxruntime on numpy copies of its inputs."""

    def __init__(self, node: Node):
        super().__init__()
        self.node = node

    def forward(self, *args):
        from .opaque import run_opaque

        arrays = [None if a is None else a.detach().cpu().numpy() for a in args]
        outputs = [torch.from_numpy(np.array(o)) for o in run_opaque(self.node, arrays)]
        return outputs[0] if len(outputs) == 1 else tuple(outputs)


class _Builder:
    def __init__(self, graph: Graph):
        self.graph = graph
        self.fx = fx.Graph()
        self.attrs: dict = {}  # attribute name on the GraphModule -> Parameter / tensor / module
        self.env: dict = {}  # id(Value) -> fx.Node

    def build(self) -> fx.GraphModule:
        for v in self.graph.inputs:
            placeholder = self.fx.placeholder(_identifier(v.name))
            self.env[id(v)] = self._quantized(placeholder, v)
        for node in self.graph.nodes:
            if node.op == "const":
                self.env[id(node.output)] = self._constant(node)
            else:
                self._call(node)
        self.fx.output(tuple(self.env[id(v)] for v in self.graph.outputs))
        return fx.GraphModule(self.attrs, self.fx, class_name=_identifier(self.graph.name))

    # --- attributes of the module --------------------------------------------------------
    def _register(self, hint: str, obj) -> str:
        name, n = _identifier(hint), 1
        while name in self.attrs:
            name, n = f"{_identifier(hint)}_{n}", n + 1
        self.attrs[name] = obj
        return name

    def _attr(self, hint: str, obj) -> fx.Node:
        return self.fx.get_attr(self._register(hint, obj))

    def _constant(self, node: Node) -> fx.Node:
        value, t = node.attrs["value"].array, node.output.type
        origin = node.attrs.get("origin")
        if isinstance(t, CodebookType):  # trainable codebook, fixed indices (runtime/codebook.py)
            module = self._register(origin or node.output.name, CodebookWeight(node))
            return self.fx.create_node("call_module", module, (), {}, name=_identifier(node.output.name))
        if isinstance(t, QuantType):  # integer storage: a buffer, named after the weight it stands for
            hint = origin or node.output.name
            scale, zero_point = quant_params(t)
            q = self._attr(hint, torch.from_numpy(np.array(value)))
            args = (q, self._attr(f"{hint}.scale", scale), self._attr(f"{hint}.zero_point", zero_point))
            return self.fx.call_function(dequantize, args)
        _check_simulated(t, node.output)
        tensor = torch.from_numpy(np.array(value))
        if origin and tensor.is_floating_point():
            weight = self._attr(origin, torch.nn.Parameter(tensor))
        else:
            weight = self._attr(node.output.name, tensor)
        return self._quantized(weight, node.output) if isinstance(t, MinifloatType) else weight

    # --- one node ----------------------------------------------------------------------
    def _call(self, node: Node) -> None:
        args = tuple(self.env[id(v)] if v is not None else None for v in node.inputs)
        name = _identifier(node.outputs[0].name)
        if is_opaque(node.op):
            module = self._register(node.op, OpaqueCall(node))
            result = self.fx.create_node("call_module", module, args, {}, name=name)
        else:
            d = get_op(node.op)
            if d.torch is None:  # lowered integer ops work on storage, which this executor never holds
                raise ExecutionError(f"node {node.label()}: op '{node.op}' has no torch implementation; the torch "
                                     f"executor runs float graphs and simulates quantized types in float")
            rounding = product_rounding(node)
            if rounding is not None and rounding.bias is not None and args[2] is not None:
                args = (*args[:2], self._fake_quantized(args[2], rounding.bias, node.inputs[2].name), *args[3:])
            product_attrs = node.attrs if rounding is None else rounding.product_attrs
            attrs = {k: _literal(v) for k, v in d.with_defaults(product_attrs).items() if k in d.attrs}
            result = self.fx.create_node("call_function", d.torch, args, attrs, name=name)
            if rounding is not None and rounding.intermediate is not None:
                mid = self._fake_quantized(result, rounding.intermediate, f"{node.outputs[0].name}_pre")
                fused = {k: _literal(node.attrs.get(k)) for k in FUSED_ACTIVATION_ATTRS}
                result = self.fx.call_function(apply_fused_activation, (mid,), {"use_torch": True, **fused})
        for i, v in enumerate(node.outputs):
            out = result if len(node.outputs) == 1 else self.fx.call_function(operator.getitem, (result, i))
            self.env[id(v)] = self._quantized(out, v)

    def _quantized(self, x: fx.Node, v: Value) -> fx.Node:
        t = v.type
        if isinstance(t, MinifloatType):
            scale, magnitudes = minifloat_params(t)
            args = (x, self._attr(f"{v.name}.scale", scale), self._attr(f"{v.name}.magnitudes", magnitudes))
            return self.fx.call_function(fake_minifloat, args)
        if not isinstance(t, QuantType):
            _check_simulated(t, v)
            return x
        return self._fake_quantized(x, t, v.name)

    def _fake_quantized(self, x: fx.Node, t: QuantType, hint: str) -> fx.Node:
        scale, zero_point = quant_params(t)
        args = (x, self._attr(f"{hint}.scale", scale), self._attr(f"{hint}.zero_point", zero_point),
                t.qmin, t.qmax, t.storage == "b1")
        return self.fx.call_function(fake_quantize, args)


def _literal(value):
    """Attribute values as plain Python, which the generated code can spell (passes may
    store numpy scalars)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return type(value)(_literal(x) for x in value)
    return value


def _check_simulated(t: Type, v: Value) -> None:
    if not isinstance(t, (TensorType, QuantType, MinifloatType)):
        raise ExecutionError(f"value %{v.name}: the torch executor cannot simulate {type(t).__name__} yet")


def _identifier(name: Optional[str]) -> str:
    name = re.sub(r"\W", "_", name or "v")
    return name if name[:1].isalpha() or name[:1] == "_" else f"v_{name}"
