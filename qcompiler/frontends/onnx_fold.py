"""Shape arithmetic on constants, evaluated at import.

The legacy torch exporter computes slice bounds and reshape targets from constants
(`Mod(2, 3)` -> `Reshape` -> `Slice(shape, 0, that)`). Left as ops, such a bound is a
run-time value: the slice's length is unknown and the reshape it feeds has no rank. So
- a node that would stay opaque (no converter, or one that cannot express it) whose
  operands are all constants and whose results are small integer or bool tensors is
  evaluated once (onnx's reference evaluator at the model's opset) into `const` nodes;
- a converter asking for a constant operand (`OnnxNode.const`) gets the value of a
  chain of catalog ops over constants, computed by their numpy references.
Float results are never folded: they are weights, kept with their names.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import onnx_ir as ir
from onnx.reference import ReferenceEvaluator

from ..ir.core import Graph, Value
from ..ir.registry import is_opaque

# larger integer tensors are data (token tables, indices), not shape arithmetic
FOLD_LIMIT = 4096
# operands all constant, yet a fresh value every run
_NONDETERMINISTIC = ("RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike",
                     "Multinomial", "Bernoulli")


def fold_onnx_node(node: ir.Node, arrays: Sequence[Optional[np.ndarray]], opset: int) -> Optional[list]:
    """The node's results as numpy arrays when it is constant shape arithmetic, else None."""
    if node.domain != "" or node.op_type in _NONDETERMINISTIC or not arrays or any(a is None for a in arrays):
        return None
    if any(a.type in (ir.AttributeType.GRAPH, ir.AttributeType.GRAPHS) for a in node.attributes.values()):
        return None
    if any(o.dtype is None or not (o.dtype.is_integer() or o.dtype == ir.DataType.BOOL) for o in node.outputs):
        return None
    proto = ir.serde.serialize_node(node)
    feeds = {name: array for name, array in zip(proto.input, arrays) if name}
    try:
        results = ReferenceEvaluator(proto, opsets={"": opset}).run(None, feeds)
    except Exception:  # an op the evaluator lacks or rejects stays opaque
        return None
    results = [np.asarray(r) for r in results]
    return results if all(_small_integer(r) for r in results) else None


def constant_value(graph: Graph, v: Optional[Value], depth: int = 16) -> Optional[np.ndarray]:
    """v's value when it is a constant or small integer arithmetic on constants, else None."""
    if v is None or v.producer is None:
        return None
    node = v.producer
    if node.op == "const":
        return graph.const_value(v)
    if depth == 0 or is_opaque(node.op) or len(node.outputs) != 1 or v.type.dtype not in _INTEGER_DTYPES:
        return None
    args = [None if u is None else constant_value(graph, u, depth - 1) for u in node.inputs]
    if any(a is None and u is not None for a, u in zip(args, node.inputs)):
        return None
    from ..runtime.reference import run_node  # the runtime imports the frontends' type tables

    result = np.asarray(run_node(node, args)[0])
    return result if _small_integer(result) else None


_INTEGER_DTYPES = ("bool", "i64", "i32", "i16", "i8", "u8", "u16", "u32", "u64")


def _small_integer(array: np.ndarray) -> bool:
    return array.dtype.kind in "biu" and array.size <= FOLD_LIMIT
