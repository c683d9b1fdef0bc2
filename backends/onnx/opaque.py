"""Opaque `onnx.*` nodes are written back as the ONNX nodes they were imported from:
same domain, op type and attributes (without the importer's `onnx.*` bookkeeping),
outputs at the positions recorded in `onnx.output_slots` (skipped ones stay unnamed)."""
from __future__ import annotations

import onnx
import onnx_ir as ir

from qcompiler.frontends.onnx_types import OUTPUT_SLOTS_ATTR, split_opaque_name, to_onnx_attr
from qcompiler.runtime.opaque import onnx_attributes


def _schema_types(op_type: str, version: int, domain: str) -> dict:
    try:
        schema = onnx.defs.get_schema(op_type, version, domain)
    except onnx.defs.SchemaError:
        return {}
    return {k: a.type for k, a in schema.attributes.items()}


def emit_opaque(ctx, node) -> list:
    domain, op_type = split_opaque_name(node.op)
    types = _schema_types(op_type, ctx.b.opset_imports.get(domain, 1), domain)
    attrs = {k: ir.serde.deserialize_attribute(to_onnx_attr(k, v, types.get(k)))
             for k, v in onnx_attributes(node).items()}
    slots = node.attrs.get(OUTPUT_SLOTS_ATTR, list(range(len(node.outputs))))
    count = max(slots) + 1 if slots else 0
    outputs = ctx.b.op(op_type, [ctx.real(v) for v in node.inputs], attrs, domain=domain, outputs=count)
    outputs = [outputs] if count == 1 else outputs
    for i, v in enumerate(outputs):
        if i not in slots:
            v.name = ""  # an optional output the graph does not use
    return [outputs[slot] for slot in slots]
