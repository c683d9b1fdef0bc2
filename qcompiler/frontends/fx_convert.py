"""Converting a captured fx graph (symbolic trace or unlifted torch.export) into IR.

The converter walks the fx nodes in order and calls the handler the mapping table has
for each target; handlers build IR through the helpers here (`emit`, `const`, `dim`,
...). Python values (sizes, flags, dtypes) stay Python values; a size that depends on
a dynamic dim is an i64[1] IR value instead, so reshapes keep working at any size.
Every result is checked against the shape and dtype torch computed on
the example inputs, so a wrong mapping fails at import, naming the node.
"""
from __future__ import annotations

import operator
from typing import Any, Optional

import numpy as np
import torch
import torch.fx as fx
from torch.fx.passes.shape_prop import TensorMetadata

from ..ir.core import Graph, Value
from ..ir.errors import FrontendError
from ..ir.ops.infer import plain
from ..ir.types import TensorType, numpy_dtype
from .fx_meta import batch_symbols, first_mismatch, ir_dtype, refine, torch_dtype
from .fx_table import METHODS, MODULES, describe, function_handler
from .fx_tracer import is_guard

_INPLACE_OPERATORS = {operator.iadd, operator.isub, operator.imul, operator.itruediv, operator.ifloordiv,
                      operator.ipow, operator.imod, operator.iand, operator.ior, operator.ixor}


class Converter:
    def __init__(self, gm: fx.GraphModule, name: str, num_inputs: int, symbols: list):
        self.gm = gm
        self.graph = Graph(name)
        self.symbols = symbols  # {axis: symbol} per input
        self._batches = batch_symbols(symbols)
        self.node: Optional[fx.Node] = None
        self._num_inputs = num_inputs
        self._env: dict = {}
        self._weights: dict = {}
        self._sizes: dict = {}  # symbol -> its size in the example inputs
        self._parameter_names = {n for n, _ in gm.named_parameters()}

    def run(self) -> Graph:
        placeholders = 0
        for node in self.gm.graph.nodes:
            self.node = node
            if node.op == "placeholder":
                self._env[node] = self._input(node, placeholders)
                placeholders += 1
            elif node.op == "output":
                self.graph.set_outputs(self._outputs(node.args[0]))
            elif not is_guard(node) and (node.users or _mutates(node, self.gm)):
                self._env[node] = self._convert(node)
        _prune(self.graph)
        return self.graph

    # --- graph boundary ------------------------------------------------------------------
    def _input(self, node: fx.Node, index: int):
        if index >= self._num_inputs:  # a forward() argument specialized to its default
            return node.args[0] if node.args else None
        meta = node.meta.get("tensor_meta")
        if not isinstance(meta, TensorMetadata):
            raise FrontendError(f"example input {index} ('{node.name}') is not a tensor")
        shape = list(meta.shape)
        for axis, symbol in self.symbols[index].items():
            if self._sizes.setdefault(symbol, shape[axis]) != shape[axis]:
                raise FrontendError(f"dim '{symbol}' is {self._sizes[symbol]} in one example input and {shape[axis]} "
                                    f"in input {index} ('{node.name}'); one symbol is one size")
            shape[axis] = symbol
        return self.graph.add_input(node.name, TensorType(ir_dtype(meta.dtype), shape))

    def _outputs(self, result) -> list:
        leaves, _ = torch.utils._pytree.tree_flatten(fx.node.map_arg(result, self._env.__getitem__))
        for i, v in enumerate(leaves):
            if not isinstance(v, Value):
                raise FrontendError(f"output {i} of the model is {v!r}, not a tensor")
        return leaves

    # --- one node --------------------------------------------------------------------------
    def _convert(self, node: fx.Node):
        if node.op == "get_attr":
            return self.parameter(node.target)
        handler, extra = self._handler(node)
        args = fx.node.map_arg(node.args, self._env.__getitem__)
        kwargs = fx.node.map_arg(node.kwargs, self._env.__getitem__)
        try:
            result = handler(self, *extra, *args, **kwargs)
        except FrontendError:
            raise
        except Exception as e:  # arguments a handler does not expect, inference rejecting them, ...
            raise self.error(f"cannot convert {self._target_name(node)}: {type(e).__name__}: {e}") from e
        if self._sizes:
            refine(result, node.meta.get("tensor_meta"), node.meta.get("qc_grown", {}), self._sizes, self._batches)
        self._check(node.meta.get("tensor_meta"), result)
        if _mutates(node, self.gm) and isinstance(node.args[0], fx.Node):
            self._env[node.args[0]] = result  # later readers of the mutated tensor see the new value
        return result

    def _handler(self, node: fx.Node):
        if node.op == "call_module":
            module = self.gm.get_submodule(node.target)
            handler, extra = MODULES.get(type(module)), (module,)
        elif node.op == "call_function":
            handler, extra = function_handler(node.target), ()
        else:
            handler, extra = METHODS.get(node.target), ()
        if handler is None:
            raise self.error(f"unsupported op {self._target_name(node)}", at=True)
        return handler, extra

    def _target_name(self, node: fx.Node) -> str:
        if node.op == "call_module":
            return f"module {type(self.gm.get_submodule(node.target)).__name__}"
        return describe(node.target)

    def _check(self, meta, result) -> None:
        """Compare what the importer built with what torch computed on the examples."""
        mismatch = first_mismatch(meta, result)
        if mismatch:
            raise self.error(f"importer bug: {mismatch}")

    # --- errors ----------------------------------------------------------------------------
    def where(self) -> str:
        node = self.node
        path = node.target if node.op == "call_module" else _module_path(node)
        return f"node '{node.name}'" + (f" (module '{path}')" if path else "")

    def error(self, message: str, at: bool = False) -> FrontendError:
        """`at=True` puts the place after the message: 'unsupported op X at node ...'."""
        if at:
            return FrontendError(f"{message} at {self.where()}")
        return FrontendError(f"{self.where()}: {message}")

    # --- building IR -------------------------------------------------------------------------
    def emit(self, op: str, inputs, **attrs):
        """Add one IR node named after the fx node; returns its value, or the list of them."""
        attrs = {k: v for k, v in attrs.items() if v is not None}
        inputs = list(inputs)
        while inputs and inputs[-1] is None:  # absent optional operands (a conv without bias)
            inputs.pop()
        node = self.graph.add(op, inputs, attrs, name=self.node.name)
        return node.outputs[0] if len(node.outputs) == 1 else list(node.outputs)

    def const(self, array) -> Value:
        """A constant the conversion needs (a scalar operand, a shape), not a weight."""
        return self.graph.constant(np.asarray(array), name=f"{self.node.name}_c")

    def i64(self, values) -> Value:
        return self.const(np.asarray(values, dtype=np.int64))

    def scalar(self, value, dtype: str) -> Value:
        return self.const(np.asarray(value, dtype=numpy_dtype(dtype)))

    def value(self, x, dtype: str) -> Value:
        """A tensor operand of `dtype` from an IR value or a Python number."""
        if isinstance(x, Value):
            return self.cast(x, dtype)
        return self.scalar(x, dtype)

    def cast(self, v: Value, dtype: str) -> Value:
        return v if self.dtype(v) == dtype else self.emit("cast", [v], to=dtype)

    def parameter(self, path: str) -> Value:
        """The const node of a module parameter/buffer; one per path (tied weights share it)."""
        if path not in self._weights:
            tensor = _fetch(self.gm, path)
            if not isinstance(tensor, torch.Tensor):
                raise self.error(f"attribute '{path}' is a {type(tensor).__name__}, not a tensor")
            # parameters are the weights (a fine-tuning executor makes them trainable again);
            # buffers such as batch-norm statistics keep their path only as the value name
            self._weights[path] = self._tensor_const(tensor, path, path if path in self._parameter_names else None)
        return self._weights[path]

    def module_param(self, name: str) -> Optional[Value]:
        """Parameter `name` of the module the current call_module node calls (None if unset)."""
        if getattr(self.gm.get_submodule(self.node.target), name) is None:
            return None
        return self.parameter(f"{self.node.target}.{name}")

    def _tensor_const(self, tensor: torch.Tensor, name: str, origin: Optional[str]) -> Value:
        tensor = tensor.detach().cpu()
        if tensor.dtype == torch.bfloat16:  # numpy has no bf16: the array is f32, the type says bf16
            t = TensorType("bf16", tuple(tensor.shape))
            return self.graph.constant(tensor.float().numpy(), name=name, origin=origin, type=t)
        ir_dtype(tensor.dtype)
        return self.graph.constant(tensor.numpy().copy(), name=name, origin=origin)

    # --- types and sizes --------------------------------------------------------------------------
    @staticmethod
    def dtype(v: Value) -> str:
        return plain(v.type).dtype

    @staticmethod
    def rank(v: Value) -> int:
        return len(v.type.shape)

    def dim(self, v: Value, i: int):
        """Size of dim i: an int, or an i64[1] IR value when the dim is symbolic."""
        d = v.type.shape[i]
        if isinstance(d, int):
            return d
        i %= self.rank(v)
        return self.emit("shape", [v], start=i, end=i + 1)

    def sizes(self, v: Value) -> tuple:
        return tuple(self.dim(v, i) for i in range(self.rank(v)))

    def shape_operand(self, dims) -> Value:
        """An i64 shape tensor from a list of ints and i64[1] values."""
        dims = list(dims)
        if all(isinstance(d, (int, np.integer)) for d in dims):
            return self.i64(dims)
        parts = [d if isinstance(d, Value) else self.i64([int(d)]) for d in dims]
        parts = [self.emit("reshape", [p, self.i64([1])]) if p.type.shape != (1,) else p for p in parts]
        return self.emit("concat", parts, axis=0)

    def promote(self, a, b) -> str:
        """torch's result dtype for a binary op on IR values and/or Python numbers."""
        def dummy(x):
            if isinstance(x, Value):
                return torch.empty([1] * self.rank(x), dtype=torch_dtype(self.dtype(x)))
            return x

        return ir_dtype(torch.result_type(dummy(a), dummy(b)))

    def recorded(self) -> Any:
        """The Python value the current node produced on the example inputs."""
        return self.node.meta["qc_value"]

    def out_dtype(self) -> str:
        """dtype torch computed for the current node's (first) tensor result."""
        meta = self.node.meta.get("tensor_meta")
        meta = meta[0] if isinstance(meta, (list, tuple)) and not isinstance(meta, TensorMetadata) else meta
        return ir_dtype(meta.dtype)


def _mutates(node: fx.Node, gm: fx.GraphModule) -> bool:
    if node.op == "call_method":
        return node.target.endswith("_") and not node.target.startswith("_")
    if node.op == "call_function":
        if isinstance(node.target, torch._ops.OpOverload):
            return node.target._schema.is_mutable
        return node.target in _INPLACE_OPERATORS
    if node.op == "call_module":
        return bool(getattr(gm.get_submodule(node.target), "inplace", False))
    return False


def _module_path(node: fx.Node) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    paths = [path for path, _ in stack.values() if isinstance(path, str) and not path.startswith("_")]
    return paths[-1] if paths else ""


def _fetch(root, path: str):
    for atom in path.split("."):
        root = getattr(root, atom)
    return root


def _prune(graph: Graph) -> None:
    """Drop nodes whose results nothing uses (metadata queries, unused weights)."""
    outputs = {id(v) for v in graph.outputs}
    for node in reversed(graph.nodes):
        if all(not v.uses and id(v) not in outputs for v in node.outputs):
            graph.erase(node)
