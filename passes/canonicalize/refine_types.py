"""refine-types: replace unknown dims ("?") in result types by what inference now knows.

Importers give a result an unknown dim when its shape depends on a computed value
(e.g. reshape by the output of a shape chain). Once `fold-constants` has turned that
chain into a constant, re-running the op's inference pins the dim down; later passes
(the lowering needs static reduction lengths) rely on it.
"""
from __future__ import annotations

from qcompiler.ir.core import Graph
from qcompiler.ir.registry import infer_types, is_opaque
from qcompiler.passmanager import PassResult, graph_pass


def _is_unknown(dim) -> bool:
    return isinstance(dim, str) and "?" in dim


def refine_types(graph: Graph) -> int:
    """Refine result types in topological order (so refinements propagate); returns the
    number of values whose type changed."""
    changed = 0
    for node in graph.nodes:
        if node.op == "const" or is_opaque(node.op):
            continue
        if not any(_is_unknown(d) for v in node.outputs for d in v.type.shape):
            continue
        try:
            inferred = infer_types(node.op, [v.type if v is not None else None for v in node.inputs], node.attrs,
                                   [graph.const_value(v) for v in node.inputs])
        except Exception:  # a node inference cannot handle keeps its declared type; verify reports real errors
            continue
        for value, t in zip(node.outputs, inferred):
            old = value.type.shape
            if len(old) != len(t.shape):
                continue
            new = tuple(n if _is_unknown(o) and not _is_unknown(n) else o for o, n in zip(old, t.shape))
            if new != old:
                value.type = value.type.with_shape(new)
                changed += 1
    return changed


@graph_pass("refine-types")
def refine_types_pass(graph: Graph, ctx) -> PassResult:
    n = refine_types(graph)
    return PassResult(n > 0, {"refined": n} if n else {})
