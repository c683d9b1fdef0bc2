"""Float emitters for the indexing ops whose positions are run-time tensors:
dynamic_slice (ONNX Slice with computed bounds), gather_elements, gather_nd. Each is
the ONNX op it was imported from (qcompiler/frontends/onnx_ops_tensor.py)."""
from __future__ import annotations

from .emitters import FLOAT

# the opset each first exists in with these semantics (Slice's bounds as inputs: 10)
SINCE = {"dynamic_slice": ("Slice", 10), "gather_elements": ("GatherElements", 11), "gather_nd": ("GatherND", 11)}


@FLOAT.register(*SINCE)
def runtime_indexing(ctx, node):
    op, since = SINCE[node.op]
    if ctx.opset < since:
        raise ctx.error(f"{node.op} needs opset >= {since} ({op}); export at a newer opset")
    attrs = {"axis": node.attrs.get("axis", 0)} if node.op == "gather_elements" else {}
    return [ctx.b.op(op, [ctx.real(v) if v is not None else None for v in node.inputs], attrs)]
