"""fold-constants: replace nodes whose operands are all constants by their value.

Values come from the op's numpy reference, so folding is exact with respect to the
reference interpreter. `shape` of a statically shaped value is a constant too, which
is what lets shape-computing chains (shape -> gather -> concat -> reshape) collapse
into a reshape by a constant shape.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional

import numpy as np

from qcompiler.ir.core import Graph, Node
from qcompiler.ir.registry import get_op, is_opaque, run_reference
from qcompiler.ir.types import TensorType, numpy_dtype
from qcompiler.passmanager import Pass, PassResult, register_pass

from .refine_types import refine_types
from .resolve_reshapes import resolve_reshapes


@register_pass
@dataclass(frozen=True)
class FoldConstants(Pass):
    """`max_elements`: results larger than this stay computed (folding them would bloat
    the model with a big constant that is cheap to recompute)."""

    name: ClassVar[str] = "fold-constants"
    max_elements: int = 1 << 20

    def run(self, graph: Graph, ctx) -> PassResult:
        folded = too_large = refined = 0
        while True:  # folding pins down types, which can make more nodes foldable
            f, t = self._fold_once(graph, ctx)
            folded, too_large = folded + f, t
            r = (refine_types(graph) if f else 0) + resolve_reshapes(graph)
            refined += r
            if not r:
                break
        stats = {k: n for k, n in (("folded", folded), ("too_large", too_large), ("refined", refined)) if n}
        return PassResult(folded > 0, stats)

    def _fold_once(self, graph: Graph, ctx) -> tuple:
        folded = too_large = 0
        for node in graph:
            if not _foldable(graph, node):
                continue
            if not all(v.type.is_static for v in node.outputs):
                continue
            if any(v.type.numel() > self.max_elements for v in node.outputs):
                too_large += 1
                continue
            arrays = _evaluate(graph, node, ctx)
            if arrays is None:
                continue
            _replace_with_constants(graph, node, arrays)
            folded += 1
        return folded, too_large


def _foldable(graph: Graph, node: Node) -> bool:
    if node.op == "const" or is_opaque(node.op) or get_op(node.op).integer:
        return False  # integer (lowered) ops compute on quantized storage, which is never folded
    if not all(isinstance(v.type, TensorType) for v in node.outputs):
        return False
    if node.op == "shape":
        return node.inputs[0].type.is_static
    present = [v for v in node.inputs if v is not None]
    # quantized constants stay as they are: folding would turn them back into floats
    return bool(present) and all(graph.const_value(v) is not None and isinstance(v.type, TensorType) for v in present)


def _evaluate(graph: Graph, node: Node, ctx) -> Optional[list]:
    if node.op == "shape":
        dims = node.inputs[0].type.shape
        start, end = node.attrs.get("start", 0), node.attrs.get("end")
        return [np.array(dims[start:end], dtype=np.int64)]
    args = [graph.const_value(v) if v is not None else None for v in node.inputs]
    try:
        results = run_reference(node.op, args, node.attrs)
    except Exception as e:  # the node would fail at run time too; leave it for that error
        ctx.warn(f"cannot fold: {type(e).__name__}: {e}", node=node.label())
        return None
    arrays = []
    for v, a in zip(node.outputs, results):
        a = np.asarray(a).astype(numpy_dtype(v.type.dtype), copy=False)
        if a.shape != tuple(v.type.shape):
            ctx.warn(f"cannot fold: reference gave shape {list(a.shape)}, type says {list(v.type.shape)}",
                     node=node.label())
            return None
        arrays.append(a)
    return arrays


def _replace_with_constants(graph: Graph, node: Node, arrays: list) -> None:
    # a folded weight (e.g. a transposed one) still says which parameter it came from
    origins = {v.producer.attrs.get("origin") for v in node.inputs if v is not None and v.producer is not None}
    origins.discard(None)
    origin = origins.pop() if len(origins) == 1 else None
    feeding = [v.producer for v in node.inputs if v is not None and v.producer is not None]
    names = [v.name for v in node.outputs]
    new_values = [graph.constant(a, origin=origin) for a in arrays]
    for old, new in zip(node.outputs, new_values):
        old.replace_all_uses_with(new)
    graph.erase(node)
    for name, new in zip(names, new_values):
        graph.rename(new, name)
    for producer in feeding:
        if producer.graph is graph and producer.op == "const" and not producer.output.uses \
                and not any(o is producer.output for o in graph.outputs):
            graph.erase(producer)
