"""Which opsets an export imports.

The default-domain opset is the requested one, else the graph's own (an imported ONNX
model keeps its opset), else DEFAULT_OPSET; it is raised to what the quantized types
need (per-channel Q/DQ: 13; blocked Q/DQ, INT4 weights, INT16 Q/DQ: 21) unless requested
explicitly. Opaque nodes were imported under the graph's opset: the export opset may
differ from it only where their op's definition is the same in both.
"""
from __future__ import annotations

from typing import Optional

import onnx

from qcompiler.frontends.onnx_types import split_opaque_name
from qcompiler.ir.core import Graph
from qcompiler.ir.registry import is_opaque
from qcompiler.ir.types import QuantType

from .errors import OnnxExportError

DEFAULT_OPSET = 21
MIN_OPSET = 11  # Clip, Pad, Slice, Resize with operands as inputs
MICROSOFT = "com.microsoft"


def needed_opset(graph: Graph, form: str) -> tuple:
    """(opset, reason) the graph's quantized types need in `form`."""
    # the lowered forms clip and compare int64 and 8-bit tensors (Clip, Max on integers: 12)
    best = (13, "integer Clip and per-channel DequantizeLinear") if form in ("qoperator", "integer") else (MIN_OPSET, "")
    for v in graph.values():
        t = v.type
        if not isinstance(t, QuantType):
            continue
        packed_weight = t.storage in ("i4", "u4") and v.producer is not None and v.producer.op == "const"
        if t.group is not None or (form == "qdq" and (t.storage == "i16" or packed_weight)):
            return 21, f"%{v.name} is {t.storage} {t.granularity}"
        if t.axis is not None:
            best = (13, f"%{v.name} is quantized per channel")
    return best


def _definition(op_type: str, domain: str, version: int) -> Optional[int]:
    try:
        return onnx.defs.get_schema(op_type, version, domain).since_version
    except onnx.defs.SchemaError:
        return None


def _check_opaque(graph: Graph, imported: Optional[int], opset: int) -> None:
    if imported is None or imported == opset:
        return
    for node in graph.nodes:
        if not is_opaque(node.op):
            continue
        domain, op_type = split_opaque_name(node.op)
        if domain in ("", "ai.onnx") and _definition(op_type, "", imported) != _definition(op_type, "", opset):
            raise OnnxExportError(f"node {node.label()}: opaque {op_type} was imported at opset {imported}, and its "
                                  f"definition differs at opset {opset}; export with opset={imported}")


def opset_imports(graph: Graph, form: str, requested: Optional[int]) -> dict:
    imported = graph.opset_imports.get("")
    need, reason = needed_opset(graph, form)
    if requested is not None:
        if requested < max(need, MIN_OPSET):
            why = f" ({reason})" if requested >= MIN_OPSET else ""
            raise OnnxExportError(f"graph @{graph.name}: form {form!r} needs opset >= {max(need, MIN_OPSET)}{why}, "
                                  f"got opset={requested}")
        opset = requested
    else:
        opset = max(imported or DEFAULT_OPSET, need)
    _check_opaque(graph, imported, opset)
    imports = {d: v for d, v in graph.opset_imports.items() if d not in ("", "ai.onnx")}
    imports[""] = opset
    if form == "qoperator":
        imports.setdefault(MICROSOFT, 1)
    for node in graph.nodes:
        if is_opaque(node.op):
            domain, _ = split_opaque_name(node.op)
            if domain not in ("", "ai.onnx"):
                imports.setdefault(domain, 1)
    return imports
