"""The torch frontend: `import_module(module, example_inputs) -> Graph`.

    graph = import_module(model, torch.randn(1, 3, 32, 32))

The module is captured with torch.fx symbolic tracing (falling back to torch.export
when its Python cannot be traced symbolically), shapes are propagated on the example
inputs, and every fx node is mapped onto the op catalog (docs/ops.md) by the handlers in
the fx_* modules. The module is imported as it runs in eval() mode: running statistics
for batch norm, no dropout.
"""
from __future__ import annotations

import contextlib
import inspect
from typing import Optional

import torch

from ..ir.core import Graph
from ..ir.errors import FrontendError
from ..ir.verifier import verify
from . import fx_attention, fx_modules, fx_ops_activation, fx_ops_index, fx_ops_math, fx_ops_nn, fx_ops_pool  # noqa: F401 (register handlers)
from . import fx_ops_creation, fx_ops_reduce, fx_ops_shape  # noqa: F401
from .dynamic_dims import DynamicDims, dims_per_input
from .fx_convert import Converter
from .fx_meta import propagate
from .fx_table import MODULES
from .fx_tracer import export_trace, symbolic_trace

__all__ = ["import_module"]


_CAPTURES = ("auto", "fx", "export")


def import_module(module: torch.nn.Module, example_inputs, *, name: Optional[str] = None,
                  dynamic_batch: bool = False, dynamic_dims: Optional[DynamicDims] = None,
                  capture: str = "auto") -> Graph:
    """Import `module` as an IR graph.

    `example_inputs` is a tensor or a tuple of tensors, one per forward() argument (later
    arguments keep their defaults). `dynamic_dims` (frontends/dynamic_dims.py, inputs by
    forward() argument name or position) names the dims that stay symbolic, e.g.
    `{"x": {0: "N", 3: "W"}}`; `dynamic_batch=True` adds dim 0 of every input as "N".
    `capture` picks how the module is captured: "fx" (symbolic tracing), "export"
    (torch.export) or "auto" (fx, falling back to torch.export); the graph's
    `meta["captured_by"]` says which one did. Raises FrontendError when the module fails
    on the examples, or uses an op the catalog cannot express (naming the node and
    module)."""
    if capture not in _CAPTURES:
        raise FrontendError(f"capture must be one of {list(_CAPTURES)}, got {capture!r}")
    examples = _as_tuple(example_inputs)
    symbols = _symbols(module, examples, dynamic_batch, dynamic_dims)
    with _eval_mode(module):
        _check_runs(module, examples)
        gm, captured_by = _capture(module, examples, symbols, capture)
        with torch.no_grad():
            propagate(gm, examples, symbols)
        graph = Converter(gm, name or type(module).__name__, len(examples), symbols).run()
    graph.meta["captured_by"] = captured_by
    verify(graph)
    return graph


def _symbols(module: torch.nn.Module, examples: tuple, dynamic_batch: bool, dynamic_dims) -> list:
    """{axis: symbol} per example input; inputs are named by forward()'s parameters."""
    try:
        params = [p.name for p in inspect.signature(module.forward).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    names = params[:len(examples)] if len(params) >= len(examples) else [f"input{i}" for i in range(len(examples))]
    symbols = dims_per_input(dynamic_dims, names, [x.dim() for x in examples], type(module).__name__)
    if dynamic_batch:
        for axes, x in zip(symbols, examples):
            if x.dim():
                axes.setdefault(0, "N")
    return symbols


def _as_tuple(example_inputs) -> tuple:
    examples = (example_inputs,) if isinstance(example_inputs, torch.Tensor) else tuple(example_inputs)
    for i, x in enumerate(examples):
        if not isinstance(x, torch.Tensor):
            raise FrontendError(f"example input {i} is a {type(x).__name__}, not a tensor")
    return examples


def _clones(examples: tuple) -> tuple:
    # in-place ops in the model must not change the caller's tensors
    return tuple(x.clone() for x in examples)


@contextlib.contextmanager
def _eval_mode(module: torch.nn.Module):
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training


def _check_runs(module: torch.nn.Module, examples: tuple) -> None:
    try:
        with torch.no_grad():
            module(*_clones(examples))
    except Exception as e:
        shapes = ", ".join(f"{str(x.dtype).replace('torch.', '')}{list(x.shape)}" for x in examples)
        raise FrontendError(f"{type(module).__name__} fails on the example inputs ({len(examples)} given: {shapes}); "
                            f"check their number and shapes: {type(e).__name__}: {e}") from None


def _capture(module: torch.nn.Module, examples: tuple, symbols: list, capture: str) -> tuple:
    """(GraphModule, "fx" | "torch.export"); autograd stays on, as when the module runs."""
    failures = []
    if capture in ("auto", "fx"):
        try:
            return symbolic_trace(module, _clones(examples), tuple(MODULES), symbols), "fx"
        except Exception as e:
            failures.append(f"symbolic tracing failed ({_first_line(e)})")
    if capture in ("auto", "export"):
        try:
            return export_trace(module, _clones(examples), symbols), "torch.export"
        except Exception as e:
            failures.append(f"torch.export failed ({_first_line(e)})")
    raise FrontendError(f"cannot capture {type(module).__name__}: {' and '.join(failures)}")


def _first_line(e: Exception) -> str:
    """The gist of an error; torch.export's run to pages of advice."""
    lines = [line for line in str(e).splitlines() if line.strip()]
    return f"{type(e).__name__}: {lines[0] if lines else ''}"
