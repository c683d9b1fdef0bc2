"""The numpy reference interpreter: runs a graph op by op with each op's reference.

Simple on purpose; it is the ground truth other executors are compared with. It
streams: each value is freed after its last reader (`release_plan`), and
`stream_graph` hands every value to a callback as it is produced, so observing all
activations (calibration) needs memory for the live ones only.

Quantized values (QuantType) are held as their integer storage. A float op dequantizes
its quantized operands and quantizes its quantized results (so a graph whose types are
quantized but whose ops are float runs as fake-quant simulation); an integer op
(OpDef.integer) works on storage directly. Graph inputs of a quantized type take floats
and quantize them; quantized graph outputs are returned dequantized. A codebook weight
(CodebookType) runs as the float weight it stands for, scale · codebook[indices]. A
conv/linear of a quantized input and weight adds its float bias rounded to the
accumulator's resolution s_x · s_w, as the integer kernels store it, and rounds a fused
table activation's input to the lowering's 16-bit intermediate (product_rounding.py). A
minifloat value (MinifloatType) is held as a float rounded to its format and scale
wherever it is produced (graph input, constant, result), so it never carries a value
its format cannot store; a conv2d/linear of minifloat operands follows the defined
arithmetic of numerics/minifloat_products.py, which the Numba kernel shares bit for bit.
"""
from __future__ import annotations

from typing import Callable, Mapping, NamedTuple, Optional, Sequence, Union

import numpy as np

from ..ir.codebook import decode
from ..ir.core import Graph, Node
from ..ir.errors import QIRError
from ..ir.registry import get_op, is_opaque, run_reference
from ..ir.types import CodebookType, MinifloatType, QuantType, numpy_dtype
from ..numerics import minifloat
from ..numerics.affine import dequantize, fake_quantize, quantize
from ..numerics.fused_activation import fused_function
from ..numerics.minifloat_products import follows_minifloat_products, prepare_minifloat_products
from .errors import ExecutionError
from .opaque import run_opaque
from .product_rounding import product_rounding

Inputs = Union[Sequence, Mapping[str, object]]


class StreamResult(NamedTuple):
    outputs: list     # the graph outputs, as floats
    peak_bytes: int   # most bytes of activations alive at once (op temporaries not counted)


def bind_inputs(graph: Graph, inputs: Inputs) -> dict:
    """Map graph inputs to arrays; checks count, rank and static dims."""
    if isinstance(inputs, Mapping):
        missing = [v.name for v in graph.inputs if v.name not in inputs]
        if missing:
            raise ExecutionError(f"graph @{graph.name}: missing inputs {missing}")
        arrays = [inputs[v.name] for v in graph.inputs]
    else:
        arrays = list(inputs)
        if len(arrays) != len(graph.inputs):
            raise ExecutionError(f"graph @{graph.name} takes {len(graph.inputs)} inputs, got {len(arrays)}")
    env = {}
    for v, a in zip(graph.inputs, arrays):
        a = np.asarray(a.detach().cpu().numpy() if hasattr(a, "detach") else a)
        want = v.type.shape
        if a.ndim != len(want) or any(isinstance(d, int) and d != s for d, s in zip(want, a.shape)):
            raise ExecutionError(f"input %{v.name}: expected shape {list(want)}, got {list(a.shape)}")
        a = a.astype(numpy_dtype(v.type.expressed), copy=False)
        env[id(v)] = to_runtime(a, v.type)
    return env


def to_runtime(array: np.ndarray, t) -> np.ndarray:
    """A float result as the runtime holds a value of type `t` (storage integers when quantized)."""
    if isinstance(t, QuantType):
        return quantize(array, t)
    if isinstance(t, MinifloatType):
        return minifloat.fake_quantize(array, t).astype(numpy_dtype(t.expressed), copy=False)
    return array


def as_float(array: np.ndarray, t) -> np.ndarray:
    """The real value a runtime array stands for (storage integers × scale when quantized)."""
    return dequantize(array, t) if isinstance(t, QuantType) else array


def run_node(node: Node, args: list) -> list:
    """Run one node on runtime arrays (storage integers for quantized values)."""
    if node.op == "const":  # a codebook weight runs as the float weight it stands for
        t = node.output.type
        value = decode(node) if isinstance(t, CodebookType) else node.attrs["value"].array
        return [to_runtime(value, t) if isinstance(t, MinifloatType) else value]
    try:
        if is_opaque(node.op):
            floats = [as_float(a, v.type) if a is not None else None for a, v in zip(args, node.inputs)]
            outs = run_opaque(node, floats)
        elif follows_minifloat_products(node):  # the Numba kernel's arithmetic, so the two agree bit for bit
            floats = [as_float(a, v.type) if a is not None else None for a, v in zip(args, node.inputs)]
            outs = [prepare_minifloat_products(node)(floats)]
        elif get_op(node.op).integer:
            types = {"in_types": [v.type if v is not None else None for v in node.inputs],
                     "out_types": [v.type for v in node.outputs]}
            return run_reference(node.op, args, node.attrs, **types)
        else:
            floats = [as_float(a, v.type) if a is not None else None for a, v in zip(args, node.inputs)]
            outs = _run_product(node, floats)
        return [to_runtime(o, v.type) for o, v in zip(outs, node.outputs)]
    except QIRError:
        raise
    except Exception as e:
        raise ExecutionError(f"node {node.label()} failed: {type(e).__name__}: {e}") from e


def _run_product(node: Node, floats: list) -> list:
    """A float op, with the roundings of the integer product it stands for (product_rounding.py)."""
    rounding = product_rounding(node)
    if rounding is None:
        return run_reference(node.op, floats, node.attrs)
    if rounding.bias is not None and floats[2] is not None:
        floats = [*floats[:2], fake_quantize(floats[2], rounding.bias), *floats[3:]]
    outs = run_reference(node.op, floats, rounding.product_attrs)
    if rounding.intermediate is None:
        return outs
    return [fused_function(node)(fake_quantize(outs[0], rounding.intermediate))]


def release_plan(graph: Graph) -> list:
    """Per node, the values to free once it has run: those it is the last reader of, and
    its own results nobody reads; graph outputs are never freed. Compute it once per
    graph and pass it to `stream_graph` for every batch."""
    last = {id(v): -1 for v in graph.inputs}
    for i, node in enumerate(graph.nodes):
        for v in node.outputs:
            last[id(v)] = i
        for v in node.inputs:
            if v is not None:
                last[id(v)] = i
    returned = {id(v) for v in graph.outputs}
    plan = [[] for _ in range(len(graph.nodes) + 1)]  # slot -1 (the last): unread graph inputs
    for v in graph.values():
        if id(v) in last and id(v) not in returned:
            plan[last[id(v)]].append(v)
    return plan


def stream_graph(graph: Graph, inputs: Inputs, on_value: Optional[Callable] = None,
                 plan: Optional[list] = None) -> StreamResult:
    """Run `graph`, calling `on_value(value, array)` on each value (graph inputs first,
    then each node's results) as it is produced and freeing it after its last reader,
    so memory holds the live values only, not every activation. `array` is the runtime
    array (storage integers for a quantized value, see `as_float`); a callback that
    keeps it defeats the freeing. `plan` is `release_plan(graph)`."""
    plan = release_plan(graph) if plan is None else plan
    env = bind_inputs(graph, inputs)
    live = peak = sum(a.nbytes for a in env.values())
    for v in graph.inputs:
        if on_value is not None:
            on_value(v, env[id(v)])
    live -= _release(env, plan[-1])
    for node, dead in zip(graph.nodes, plan):
        outs = run_node(node, [env[id(v)] if v is not None else None for v in node.inputs])
        if len(outs) != len(node.outputs):
            raise ExecutionError(f"node {node.label()} produced {len(outs)} results, expected {len(node.outputs)}")
        for v, a in zip(node.outputs, outs):
            env[id(v)] = a = np.asarray(a)
            live += a.nbytes if node.op != "const" else 0  # a constant is the graph's own array
            if on_value is not None:
                on_value(v, a)
        peak = max(peak, live)
        live -= _release(env, dead)
    return StreamResult([as_float(env[id(v)], v.type) for v in graph.outputs], peak)


def _release(env: dict, values: list) -> int:
    """Drop `values` from `env`; returns the bytes they held (views count as their size)."""
    freed = 0
    for v in values:
        a = env.pop(id(v))
        freed += a.nbytes if v.producer is None or v.producer.op != "const" else 0
    return freed


def run_graph(graph: Graph, inputs: Inputs, *, keep: bool = False):
    """Run `graph` on `inputs` (list in graph-input order, or dict by name).

    Returns the list of output arrays; with `keep=True` also the dict of every value's
    array by value name (for per-layer comparisons: memory then holds every activation;
    `stream_graph` observes them without keeping them)."""
    if not keep:
        return stream_graph(graph, inputs).outputs
    values = {}

    def remember(v, a):
        values[v.name] = as_float(a, v.type)

    return stream_graph(graph, inputs, remember).outputs, values
