"""Capturing a torch module as an fx graph: symbolic tracing, with torch.export as fallback.

The tracer stops at the module types the importer maps directly (fx_modules) and traces
through everything else, including torch.nn containers such as TransformerEncoderLayer
whose forward asks questions about its input (`src.dim() == 3`, `src.is_nested`) before
computing. Plain fx cannot answer those; this tracer runs every traced op on the example
inputs as it goes, so a branch on tensor *metadata* follows the example, as torch.export
does. A branch on tensor *data* stays a TraceError, and the importer falls back to
torch.export.
"""
from __future__ import annotations

import builtins
import functools
import inspect
from typing import Any, Callable, Optional

import torch
import torch.fx as fx
from torch.fx.proxy import Attribute, TraceError

from .fx_meta import grown_inputs

# results of these answer questions about a tensor's metadata, never its values
_METADATA_METHODS = {"size", "dim", "ndimension", "numel", "nelement", "is_floating_point", "is_contiguous", "get_device"}
_METADATA_ATTRS = {"shape", "ndim", "dtype", "device", "is_nested", "is_cuda", "is_sparse", "layout", "requires_grad", "is_quantized"}
_FIXED_ATTRS = {"dtype", "device", "layout", "is_cuda", "is_sparse", "is_quantized"}
_METADATA_FUNCTIONS = {builtins.len, torch.is_floating_point, torch.is_complex, torch.numel}


def _is_metadata_query(kind: str, target, args) -> bool:
    if kind == "call_method":
        return target in _METADATA_METHODS
    if kind == "call_function":
        return (target is builtins.getattr and args[1] in _METADATA_ATTRS) or target in _METADATA_FUNCTIONS
    return False


class _ConcreteProxy(fx.Proxy):
    """A proxy that knows the value its node takes on the example inputs."""

    def __len__(self) -> int:
        return len(self.tracer.concrete(self))

    def __getattr__(self, name: str):
        if name in _FIXED_ATTRS and "qc_concrete" in self.node.meta:
            # no dynamic dim changes these: the value itself, so torch.finfo(x.dtype).min works
            return getattr(self.node.meta["qc_concrete"], name)
        return _ConcreteAttribute(self, name)


class _ConcreteAttribute(Attribute, _ConcreteProxy):
    pass


class ImportTracer(fx.Tracer):
    """fx tracer with a fixed leaf set that follows metadata branches on the example inputs."""

    # a buffer sliced by a traced size (position_ids[:, :seq]) must be a node, not a tensor
    proxy_buffer_attributes = True

    def __init__(self, leaf_modules: tuple, example_inputs: tuple):
        super().__init__()
        self._leaf_types = leaf_modules
        self._examples = list(example_inputs)
        self._evaluating = False

    # --- leaf policy ------------------------------------------------------------------
    def is_leaf_module(self, m: torch.nn.Module, module_qualified_name: str) -> bool:
        return type(m) in self._leaf_types

    # --- concrete evaluation ---------------------------------------------------------------
    def create_proxy(self, kind, target, args, kwargs, name=None, type_expr=None, proxy_factory_fn=None):
        proxy = super().create_proxy(kind, target, args, kwargs, name, type_expr, proxy_factory_fn)
        node = proxy.node
        try:
            node.meta["qc_concrete"] = self._evaluate(kind, target, args, kwargs)
        except Exception:  # the value is only needed if a branch asks; then we say so
            return proxy
        node.meta["qc_static"] = _is_metadata_query(kind, target, args) or (
            kind in ("call_function", "call_method") and _all_static(args, kwargs))
        return proxy

    def _evaluate(self, kind: str, target, args, kwargs):
        if kind == "placeholder":
            return self._placeholder_value(target, args)
        args, kwargs = fx.node.map_aggregate((args, kwargs), self._value_of)
        self._evaluating = True
        try:
            if kind == "get_attr":  # a buffer; reading it must not trace a new get_attr
                return _fetch(self.root, target)
            with torch.no_grad():
                if kind == "call_function":
                    return target(*args, **kwargs)
                if kind == "call_method":
                    return getattr(args[0], target)(*args[1:], **kwargs)
                return self.root.get_submodule(target).forward(*args, **kwargs)  # call_module
        finally:
            self._evaluating = False

    def _placeholder_value(self, name: str, default: tuple):
        if self._examples:
            return self._examples.pop(0)
        if default:
            return default[0]
        raise TraceError(f"no example value for input '{name}'")

    def _value_of(self, a):
        return self.concrete(a) if isinstance(a, fx.Proxy) else a

    def concrete(self, proxy: fx.Proxy):
        meta = proxy.node.meta
        if "qc_concrete" not in meta:
            raise TraceError(f"the value of '{proxy.node.name}' is needed to trace on, and it could not be computed")
        return meta["qc_concrete"]

    # --- the questions plain fx cannot answer ------------------------------------------------
    def to_bool(self, obj: fx.Proxy) -> bool:
        if not obj.node.meta.get("qc_static"):
            raise TraceError(f"control flow depends on the values of tensor '{obj.node.name}'")
        return bool(self.concrete(obj))

    def iter(self, obj: fx.Proxy):
        return iter([obj[i] for i in range(len(self.concrete(obj)))])

    # while evaluating, a module's own calls and attribute reads are real ones, not traced
    def call_module(self, m, forward, args, kwargs):
        if self._evaluating:
            return forward(*args, **kwargs)
        return super().call_module(m, forward, args, kwargs)

    def getattr(self, attr, attr_val, parameter_proxy_cache):
        if self._evaluating:
            return attr_val
        return super().getattr(attr, attr_val, parameter_proxy_cache)

    def proxy(self, node: fx.Node) -> fx.Proxy:
        return _ConcreteProxy(node, self)

    def trace(self, root, concrete_args=None):
        # torch.zeros(x.size(0), 4) cannot see a traced size; record such calls instead
        originals = {name: getattr(torch, name) for name in _CONSTRUCTORS}
        for name, fn in originals.items():
            setattr(torch, name, _recording(fn))
        try:
            return super().trace(root, concrete_args)
        finally:
            for name, fn in originals.items():
                setattr(torch, name, fn)


_CONSTRUCTORS = ("zeros", "ones", "full", "arange")


def _recording(constructor: Callable) -> Callable:
    @functools.wraps(constructor)
    def call(*args, **kwargs):
        proxies = []
        fx.node.map_aggregate((args, kwargs), lambda a: proxies.append(a) if isinstance(a, fx.Proxy) else None)
        if proxies:
            return proxies[0].tracer.create_proxy("call_function", constructor, args, kwargs)
        return constructor(*args, **kwargs)

    return call


def _all_static(args, kwargs) -> bool:
    static = True

    def visit(a):
        nonlocal static
        if isinstance(a, fx.Proxy) and not a.node.meta.get("qc_static"):
            static = False
        return a

    fx.node.map_aggregate((args, kwargs), visit)
    return static


def _fetch(root: torch.nn.Module, target: str):
    obj: Any = root
    for atom in target.split("."):
        obj = getattr(obj, atom)
    return obj


def specialized_args(module: torch.nn.Module, num_inputs: int) -> dict:
    """forward() parameters beyond the example inputs, fixed to their defaults."""
    params = list(inspect.signature(module.forward).parameters.values())
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        raise TraceError("forward(*args) is not traced symbolically: fx would see one placeholder for all inputs")
    extra = {}
    for p in params[num_inputs:]:
        if p.kind == p.VAR_KEYWORD:
            continue
        if p.default is p.empty:
            raise TraceError(f"forward() argument '{p.name}' has no example input and no default")
        extra[p.name] = p.default
    return extra


def symbolic_trace(module: torch.nn.Module, example_inputs: tuple, leaf_modules: tuple,
                   symbols: Optional[list] = None) -> fx.GraphModule:
    """The fx graph of `module`; with `symbols` ({axis: symbol} per input), traced where no
    dynamic dim has size 1 and checked to follow the module when each symbol grows: the
    tracer answers size branches from the examples (transformers skips the mask of a
    length-1 query), which a graph meant for every size must not have taken."""
    symbols = symbols or [{} for _ in example_inputs]
    traced_at = tuple(_at_least_two(x, axes) for x, axes in zip(example_inputs, symbols))
    concrete = specialized_args(module, len(example_inputs))
    tracer = ImportTracer(leaf_modules, traced_at)
    graph = tracer.trace(module, concrete_args=concrete)
    for node in graph.nodes:  # the example activations were only needed to answer branches
        node.meta.pop("qc_concrete", None)
    gm = fx.GraphModule(tracer.root, graph, type(module).__name__)
    for symbol in dict.fromkeys(s for axes in symbols for s in axes.values()):
        _check_follows(module, gm, grown_inputs(example_inputs, symbols, symbol), symbol)
    return gm


def _check_follows(module: torch.nn.Module, gm: fx.GraphModule, inputs: tuple, symbol: str) -> None:
    with torch.no_grad():
        try:
            want, _ = torch.utils._pytree.tree_flatten(module(*(x.clone() for x in inputs)))
            got, _ = torch.utils._pytree.tree_flatten(gm(*(x.clone() for x in inputs)))
        except Exception:  # a model that fixes the dim: propagate names the symbol
            return
    same = len(want) == len(got) and all(
        not isinstance(w, torch.Tensor) or (isinstance(g, torch.Tensor) and w.shape == g.shape
                                            and torch.allclose(g, w, rtol=1e-4, atol=1e-5, equal_nan=True))
        for w, g in zip(want, got))
    if not same:
        raise TraceError(f"the traced graph follows the examples' size of dim '{symbol}' (a branch on it): "
                         f"it differs from the module when '{symbol}' grows")


def export_trace(module: torch.nn.Module, example_inputs: tuple, symbols: list) -> fx.GraphModule:
    """torch.export with the dims of `symbols` ({axis: symbol} per input) as
    `Dim.DYNAMIC` (torch infers their ranges, W >= 3 after a stride-2 conv, and fails if
    the model fixes one), unlifted back into a GraphModule whose weights are get_attr
    nodes named by their module path, so both capture paths feed one converter."""
    dynamic_shapes = None
    if any(symbols):
        dynamic_shapes = tuple({axis: torch.export.Dim.DYNAMIC for axis in axes} or None for axes in symbols)
        # export specializes a dim of size 1 to 1: trace a dynamic one at size 2
        example_inputs = tuple(_at_least_two(x, axes) for x, axes in zip(example_inputs, symbols))
    program = torch.export.export(module, tuple(example_inputs), dynamic_shapes=dynamic_shapes)
    return program.module()


def _at_least_two(x: torch.Tensor, axes) -> torch.Tensor:
    for a in axes:
        if x.shape[a] == 1:
            x = torch.cat([x, x], dim=a)
    return x


def is_guard(node: fx.Node) -> bool:
    """Nodes that only check the specialization (asserts, export's guard function)."""
    if node.op == "call_module" and node.target == "_guards_fn":
        return True
    return node.op == "call_function" and node.target in _ASSERTS


_ASSERTS: set[Callable] = {torch._assert, fx._symbolic_trace._assert_is_none,
                           torch.ops.aten._assert_scalar.default, torch.ops.aten._assert_tensor_metadata.default}
