"""Conversions between ONNX (through onnx-ir) and IR types, tensors, attributes and op names.

Shared by the ONNX importer and by the runtime that runs opaque `onnx.*` nodes.
"""
from __future__ import annotations

import re

import numpy as np
import onnx
import onnx_ir as ir

from ..ir.dense import Dense
from ..ir.errors import FrontendError
from ..ir.types import TensorType

ONNX_TO_DTYPE = {
    ir.DataType.FLOAT: "f32", ir.DataType.FLOAT16: "f16", ir.DataType.DOUBLE: "f64",
    ir.DataType.BFLOAT16: "bf16", ir.DataType.INT64: "i64", ir.DataType.INT32: "i32",
    ir.DataType.INT16: "i16", ir.DataType.INT8: "i8", ir.DataType.UINT8: "u8", ir.DataType.BOOL: "bool",
}
DTYPE_TO_ONNX = {v: int(k) for k, v in ONNX_TO_DTYPE.items()}

UNKNOWN_DIM = "?"
# set on an opaque node whose results skip some ONNX outputs: the ONNX output position
# of each result. Attributes named `onnx.*` are bookkeeping, not ONNX attributes.
OUTPUT_SLOTS_ATTR = "onnx.output_slots"


def ir_dtype(dtype, where: str) -> str:
    try:
        return ONNX_TO_DTYPE[ir.DataType(dtype)]
    except (KeyError, ValueError):
        name = ir.DataType(dtype).name if dtype in set(ir.DataType) else dtype
        raise FrontendError(f"{where}: element type {name} is not supported "
                            f"(supported: {', '.join(d.name for d in ONNX_TO_DTYPE)})") from None


def symbolic_dim(dim) -> int | str:
    """An ONNX dim as an IR dim: ints stay, named dims keep a printable name, others are '?'."""
    if isinstance(dim, int):
        return dim if dim >= 0 else UNKNOWN_DIM
    name = getattr(dim, "value", None)
    if not name or name == UNKNOWN_DIM:
        return UNKNOWN_DIM
    return re.sub(r"[^A-Za-z0-9_]", "_", str(name))


def value_type(value: ir.Value, where: str) -> TensorType | None:
    """The IR type of an onnx-ir value, or None when ONNX knows no dtype or no rank for it."""
    if value.dtype is None or value.shape is None:
        return None
    return TensorType(ir_dtype(value.dtype, where), tuple(symbolic_dim(d) for d in value.shape))


def tensor_array(tensor, where: str) -> np.ndarray:
    """The numpy value of an onnx-ir tensor; bf16 becomes f32 (numpy has no bf16)."""
    ir_dtype(tensor.dtype, where)
    try:
        array = tensor.numpy()
    except (OSError, ValueError) as e:
        path = getattr(tensor, "path", None)
        source = f" from '{path}'" if path else ""
        raise FrontendError(f"{where}: cannot read tensor '{tensor.name}'{source}: {e}") from None
    if tensor.dtype == ir.DataType.BFLOAT16:
        return np.asarray(array, dtype=np.float32)
    return np.asarray(array)


def attr_value(attr: ir.Attr, where: str):
    """An ONNX attribute as a plain Python value (tensors as Dense, lists as lists)."""
    t = attr.type
    if t in (ir.AttributeType.INT, ir.AttributeType.FLOAT, ir.AttributeType.STRING):
        return attr.value
    if t in (ir.AttributeType.INTS, ir.AttributeType.FLOATS, ir.AttributeType.STRINGS):
        return list(attr.value)
    if t == ir.AttributeType.TENSOR:
        return Dense(tensor_array(attr.value, f"{where}, attribute '{attr.name}'"))
    if t == ir.AttributeType.TENSORS:
        return [Dense(tensor_array(v, f"{where}, attribute '{attr.name}'")) for v in attr.value]
    if t in (ir.AttributeType.GRAPH, ir.AttributeType.GRAPHS):
        raise FrontendError(f"{where}: attribute '{attr.name}' holds a subgraph; control flow "
                            "(If/Loop/Scan) is not supported")
    raise FrontendError(f"{where}: attribute '{attr.name}' of type {t.name} is not supported")


def opaque_op_name(domain: str, op_type: str) -> str:
    return f"onnx.{op_type}" if domain in ("", "ai.onnx") else f"onnx.{domain}.{op_type}"


def split_opaque_name(op: str) -> tuple[str, str]:
    """`onnx.Foo` -> ("", "Foo"); `onnx.com.microsoft.Foo` -> ("com.microsoft", "Foo")."""
    parts = op.split(".")
    return ".".join(parts[1:-1]), parts[-1]


def to_onnx_attr(name: str, value, schema_type=None) -> onnx.AttributeProto:
    """Rebuild an ONNX attribute from its Python value; the op schema settles ambiguous
    cases (an empty list, or an int stored where the schema wants a float)."""
    A = onnx.AttributeProto
    if isinstance(value, Dense):
        return onnx.helper.make_attribute(name, onnx.numpy_helper.from_array(value.array))
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], Dense):
        return onnx.helper.make_attribute(name, [onnx.numpy_helper.from_array(v.array) for v in value])
    if schema_type == A.FLOAT:
        return onnx.helper.make_attribute(name, float(value), attr_type=A.FLOAT)
    if schema_type == A.FLOATS:
        return onnx.helper.make_attribute(name, [float(v) for v in value], attr_type=A.FLOATS)
    if schema_type in (A.INTS, A.STRINGS) or (isinstance(value, (list, tuple)) and not value):
        return onnx.helper.make_attribute(name, list(value), attr_type=schema_type or A.INTS)
    return onnx.helper.make_attribute(name, value)
