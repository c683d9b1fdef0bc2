"""The numpy reference interpreter: runs a graph op by op with each op's reference.

Slow and simple on purpose; it is the ground truth other executors are compared with.

Quantized values (QuantType) are held as their integer storage. A float op dequantizes
its quantized operands and quantizes its quantized results (so a graph whose types are
quantized but whose ops are float runs as fake-quant simulation); an integer op
(OpDef.integer) works on storage directly. Graph inputs of a quantized type take floats
and quantize them; quantized graph outputs are returned dequantized. A codebook weight
(CodebookType) runs as the float weight it stands for, scale · codebook[indices].
"""
from __future__ import annotations

from typing import Mapping, Sequence, Union

import numpy as np

from ..ir.codebook import decode
from ..ir.core import Graph, Node
from ..ir.errors import QIRError
from ..ir.registry import get_op, is_opaque, run_reference
from ..ir.types import CodebookType, QuantType, numpy_dtype
from ..numerics.affine import dequantize, quantize

Inputs = Union[Sequence, Mapping[str, object]]


class ExecutionError(QIRError):
    """An op failed at run time; the message names the node."""


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
        env[id(v)] = quantize(a, v.type) if isinstance(v.type, QuantType) else a
    return env


def as_float(array: np.ndarray, t) -> np.ndarray:
    """The real value a runtime array stands for (storage integers × scale when quantized)."""
    return dequantize(array, t) if isinstance(t, QuantType) else array


def run_node(node: Node, args: list) -> list:
    """Run one node on runtime arrays (storage integers for quantized values)."""
    if node.op == "const":  # a codebook weight runs as the float weight it stands for
        return [decode(node) if isinstance(node.output.type, CodebookType) else node.attrs["value"].array]
    try:
        if is_opaque(node.op):
            from .opaque import run_opaque

            floats = [as_float(a, v.type) if a is not None else None for a, v in zip(args, node.inputs)]
            outs = run_opaque(node, floats)
        elif get_op(node.op).integer:
            types = {"in_types": [v.type if v is not None else None for v in node.inputs],
                     "out_types": [v.type for v in node.outputs]}
            return run_reference(node.op, args, node.attrs, **types)
        else:
            floats = [as_float(a, v.type) if a is not None else None for a, v in zip(args, node.inputs)]
            outs = run_reference(node.op, floats, node.attrs)
        return [quantize(o, v.type) if isinstance(v.type, QuantType) else o for o, v in zip(outs, node.outputs)]
    except QIRError:
        raise
    except Exception as e:
        raise ExecutionError(f"node {node.label()} failed: {type(e).__name__}: {e}") from e


def run_graph(graph: Graph, inputs: Inputs, *, keep: bool = False):
    """Run `graph` on `inputs` (list in graph-input order, or dict by name).

    Returns the list of output arrays; with `keep=True` also the dict of every value's
    array by value name (for per-layer comparisons)."""
    env = bind_inputs(graph, inputs)
    for node in graph.nodes:
        args = [env[id(v)] if v is not None else None for v in node.inputs]
        outs = run_node(node, args)
        if len(outs) != len(node.outputs):
            raise ExecutionError(f"node {node.label()} produced {len(outs)} results, expected {len(node.outputs)}")
        for v, a in zip(node.outputs, outs):
            env[id(v)] = np.asarray(a)
    results = [as_float(env[id(v)], v.type) for v in graph.outputs]
    if keep:
        return results, {v.name: as_float(env[id(v)], v.type) for v in graph.values() if id(v) in env}
    return results
