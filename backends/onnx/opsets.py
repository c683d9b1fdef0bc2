"""Which opsets an export imports.

The default-domain opset is the requested one, else the graph's own (an imported ONNX
model keeps its opset), else DEFAULT_OPSET; it is raised to what the quantized types
need (per-channel Q/DQ: 13; blocked Q/DQ, INT4 weights, INT16 Q/DQ: 21) unless requested
explicitly. Opaque nodes were imported under the graph's opset and are written at the
export opset where their op's definition there is compatible: the same operands,
results and attributes, admitting the types the node uses, and no change of meaning
(MEANING_CHANGES). Where it is not, the error names an opset that fits both the node
and the form, or says that none does.
"""
from __future__ import annotations

from typing import Optional

import onnx

from qcompiler.frontends.onnx_types import DTYPE_TO_ONNX, split_opaque_name
from qcompiler.ir.core import Graph
from qcompiler.ir.ops.infer import plain
from qcompiler.ir.registry import is_opaque
from qcompiler.ir.types import MinifloatType, QuantType

from .errors import OnnxExportError
from .float8 import FLOAT8_OPSET, onnx_float8

DEFAULT_OPSET = 21
MIN_OPSET = 11  # Clip, Pad, Slice, Resize with operands as inputs
MICROSOFT = "com.microsoft"
# opset versions at which an op's meaning changed while its operands, results and
# attributes stayed the same (axis now names one axis instead of a 2-D coercion)
MEANING_CHANGES = {"Softmax": (13,), "LogSoftmax": (13,), "Hardmax": (13,)}


def needed_opset(graph: Graph, form: str) -> tuple:
    """(opset, reason) the graph's quantized types need in `form`."""
    # the lowered forms clip and compare int64 and 8-bit tensors (Clip, Max on integers: 12)
    best = (13, "integer Clip and per-channel DequantizeLinear") if form in ("qoperator", "integer") else (MIN_OPSET, "")
    for v in graph.values():
        t = v.type
        if isinstance(t, MinifloatType) and onnx_float8(t) is not None:
            best = max(best, (FLOAT8_OPSET, f"%{v.name} is {t.format} (FLOAT8 QuantizeLinear)"))
        if not isinstance(t, QuantType):
            continue
        packed_weight = t.storage in ("i4", "u4") and v.producer is not None and v.producer.op == "const"
        if t.group is not None or (form == "qdq" and (t.storage == "i16" or packed_weight)):
            return 21, f"%{v.name} is {t.storage} {t.granularity}"
        if t.axis is not None:
            best = (13, f"%{v.name} is quantized per channel")
    return best


def _schema(op_type: str, version: int) -> Optional[onnx.defs.OpSchema]:
    try:
        return onnx.defs.get_schema(op_type, version, "")
    except onnx.defs.SchemaError:
        return None


def _signature(schema: onnx.defs.OpSchema) -> tuple:
    """What a node written for one version of an op must still match at another: its
    operands, results and attributes (types aside, see _allowed_types)."""
    params = lambda ps: [(p.name, p.option, p.is_homogeneous) for p in ps]  # noqa: E731
    attrs = sorted((k, a.type, a.required) for k, a in schema.attributes.items())
    return params(schema.inputs), params(schema.outputs), attrs


def _allowed_types(schema: onnx.defs.OpSchema, param) -> set:
    constraints = {c.type_param_str: set(c.allowed_type_strs) for c in schema.type_constraints}
    return constraints.get(param.type_str, {param.type_str})


def _onnx_type(v) -> str:
    return f"tensor({onnx.TensorProto.DataType.Name(DTYPE_TO_ONNX[plain(v.type).dtype]).lower()})"


def _types_fit(node, schema: onnx.defs.OpSchema) -> Optional[str]:
    """Why `node`'s operand / result types are outside `schema`'s, or None."""
    for values, params, what in ((node.inputs, schema.inputs, "operand"), (node.outputs, schema.outputs, "result")):
        for i, v in enumerate(values):
            if v is None or not params:
                continue
            param = params[min(i, len(params) - 1)]  # a variadic last parameter takes the rest
            if _onnx_type(v) not in _allowed_types(schema, param):
                return f"{what} {i} is {_onnx_type(v)}, which {schema.name}-{schema.since_version} does not take"
    return None


def opaque_incompatibility(node, imported: int, opset: int) -> Optional[str]:
    """Why opaque default-domain `node`, imported at `imported`, cannot be written at
    `opset`; None when its definition there takes the same operands, results and
    attributes and the types the node uses (LRN-1 and LRN-13 differ only in bfloat16)."""
    _, op_type = split_opaque_name(node.op)
    old, new = _schema(op_type, imported), _schema(op_type, opset)
    if old is None or new is None or old.since_version == new.since_version:
        return None if old is not None and new is not None else f"{op_type} has no definition at opset {opset}"
    if any(old.since_version < v <= new.since_version for v in MEANING_CHANGES.get(op_type, ())):
        return f"the meaning of {op_type} changed at opset {max(MEANING_CHANGES[op_type])}"
    if _signature(old) != _signature(new):
        return (f"{op_type}-{new.since_version} takes other operands, results or attributes than "
                f"{op_type}-{old.since_version}")
    return _types_fit(node, new)


def _compatible_opsets(node, imported: int) -> list:
    """The opsets (from MIN_OPSET up to the newest onnx knows) at which opaque `node`,
    imported at `imported`, can be written."""
    return [v for v in range(MIN_OPSET, onnx.defs.onnx_opset_version() + 1)
            if opaque_incompatibility(node, imported, v) is None]


def _span(opsets: list) -> str:
    return f"{opsets[0]}" if len(opsets) == 1 else f"{opsets[0]}-{opsets[-1]}"


def _advice(node, imported: int, need: int, reason: str) -> str:
    """A way out that can be followed: an opset the node and the form both accept, else
    why there is none."""
    op_type = split_opaque_name(node.op)[1]
    fits = _compatible_opsets(node, imported)
    usable = [v for v in fits if v >= need]
    if usable:
        return f"export with opset={usable[-1]} (it carries {op_type} at opsets {_span(usable)})"
    where = f"fits opsets {_span(fits)} only" if fits else f"fits no opset from {MIN_OPSET} on"
    form = f", but the export needs opset >= {need} ({reason})" if reason and fits else ""
    return f"{op_type} as imported {where}{form}: it needs a converter to the op catalog"


def _check_opaque(graph: Graph, imported: Optional[int], opset: int, need: int, reason: str) -> None:
    if imported is None or imported == opset:
        return
    for node in graph.nodes:
        if not is_opaque(node.op) or split_opaque_name(node.op)[0] not in ("", "ai.onnx"):
            continue
        why = opaque_incompatibility(node, imported, opset)
        if why is None:
            continue
        op_type = split_opaque_name(node.op)[1]
        raise OnnxExportError(f"node {node.label()}: opaque {op_type} was imported at opset {imported} and cannot "
                              f"be written at opset {opset}: {why}; {_advice(node, imported, need, reason)}")


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
    _check_opaque(graph, imported, opset, max(need, MIN_OPSET), reason)
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
