"""`verify(graph)`: SSA, topological order, op schemas, types/shapes, quantization rules."""
from __future__ import annotations

import numpy as np

from .codebook import check_codebook_const
from .core import Graph, Node
from .errors import QIRError, VerifyError
from .registry import get_op, infer_types, is_opaque
from .types import CodebookType, MinifloatType, QuantType, TensorType, Type


def verify(graph: Graph, *, check_types: bool = True) -> None:
    """Raise VerifyError naming the first node that breaks an invariant."""
    defined: set[int] = set()
    names: set[str] = set()
    for v in graph.inputs:
        _check_name(v, names, "graph input")
        if v.producer is not None:
            raise VerifyError(f"graph input %{v.name} has a producer")
        _check_type(v.type, f"graph input %{v.name}")
        defined.add(id(v))
    for node in graph.nodes:
        where = f"node {node.label()}"
        if node.graph is not graph:
            raise VerifyError(f"{where} does not belong to graph @{graph.name}")
        for i, v in enumerate(node.inputs):
            if v is None:
                continue
            if id(v) not in defined:
                raise VerifyError(f"{where}: input {i} %{v.name} is used before it is defined (not in topological order, or from another graph)")
            if (node, i) not in v.uses:
                raise VerifyError(f"{where}: input {i} %{v.name} does not record this use")
        for j, v in enumerate(node.outputs):
            if v.producer is not node or v.index != j:
                raise VerifyError(f"{where}: output {j} %{v.name} has a wrong producer")
            _check_name(v, names, where)
            _check_type(v.type, f"{where} result %{v.name}")
            defined.add(id(v))
        _check_node(node, where, graph, check_types)
    for v in graph.outputs:
        if id(v) not in defined:
            raise VerifyError(f"graph output %{v.name} is not defined in graph @{graph.name}")


def _check_name(v, names: set, where: str) -> None:
    if not v.name:
        raise VerifyError(f"{where}: a value has no name")
    if v.name in names:
        raise VerifyError(f"{where}: value name %{v.name} is defined twice (SSA)")
    names.add(v.name)


def _check_type(t: Type, where: str) -> None:
    if not isinstance(t, Type):
        raise VerifyError(f"{where}: {t!r} is not an IR type")
    if isinstance(t, QuantType):
        _check_quant(t, where)
    elif isinstance(t, MinifloatType):
        _check_minifloat(t, where)


def _check_minifloat(t: MinifloatType, where: str) -> None:
    """The scale maps the format's range onto the tensor's; the bias shifts an exponent
    field of e bits, so it lies in [0, 2^e - 1]."""
    if not np.all(np.isfinite(t.scale_array)) or np.any(t.scale_array <= 0):
        raise VerifyError(f"{where}: minifloat scale must be finite and > 0, got {t.scale}")
    if t.axis is not None and (not -t.rank <= t.axis < t.rank or t.scale_array.shape != (t.shape[t.axis],)):
        raise VerifyError(f"{where}: minifloat per-channel scale shape {t.scale_array.shape} does not fit axis "
                          f"{t.axis} of shape {list(t.shape)}")
    top = 2 ** t.exponent_bits - 1
    if not 0 <= t.bias <= top:
        raise VerifyError(f"{where}: minifloat {t.format} bias {t.bias} outside [0, {top}]")


def _check_quant(t: QuantType, where: str) -> None:
    scale, zp = t.scale.array, t.zero_point.array
    if not np.all(np.isfinite(scale)) or np.any(scale <= 0):
        raise VerifyError(f"{where}: quantization scales must be finite and > 0")
    if np.any(zp < t.qmin) or np.any(zp > t.qmax):
        raise VerifyError(f"{where}: zero point outside the {t.storage} range [{t.qmin}, {t.qmax}]")
    if scale.shape != zp.shape:
        raise VerifyError(f"{where}: scale shape {scale.shape} != zero point shape {zp.shape}")
    if t.axis is None:
        if scale.size != 1:
            raise VerifyError(f"{where}: per-tensor quantization needs one scale, got {scale.size}")
        return
    if not -t.rank <= t.axis < t.rank:
        raise VerifyError(f"{where}: quantization axis {t.axis} out of range for rank {t.rank}")
    dim = t.shape[t.axis]
    if t.group is None:
        if isinstance(dim, int) and scale.size != dim:
            raise VerifyError(f"{where}: per-channel scale has {scale.size} entries for axis {t.axis} of size {dim}")
    else:
        if t.group <= 0:
            raise VerifyError(f"{where}: group size must be positive, got {t.group}")
        if isinstance(dim, int) and dim % t.group:
            raise VerifyError(f"{where}: axis {t.axis} of size {dim} is not a multiple of group {t.group}")


def _check_node(node: Node, where: str, graph: Graph, check_types: bool) -> None:
    if is_opaque(node.op):
        return
    try:
        d = get_op(node.op)
    except QIRError as e:
        raise VerifyError(f"{where}: {e}") from None
    d.check_arity(len(node.inputs), where)
    for name, v in zip(d.inputs, node.inputs):
        if v is None and not name.endswith("?") and not name.startswith("*"):
            raise VerifyError(f"{where}: required input '{name}' is missing")
    d.check_attrs(node.attrs, where)
    if node.op == "const":
        _check_const(node, where)
        return
    if d.num_outputs >= 0 and len(node.outputs) != d.num_outputs:
        raise VerifyError(f"{where}: op '{node.op}' has {d.num_outputs} results, node has {len(node.outputs)}")
    if not check_types:
        return
    try:
        inferred = infer_types(node.op, [v.type if v is not None else None for v in node.inputs], node.attrs,
                               [graph.const_value(v) for v in node.inputs])
    except VerifyError as e:
        raise VerifyError(f"{where}: {e}") from None
    except Exception as e:  # inference of a malformed node must still name the node
        raise VerifyError(f"{where}: type inference failed: {type(e).__name__}: {e}") from None
    if len(inferred) != len(node.outputs):
        raise VerifyError(f"{where}: op infers {len(inferred)} results, node has {len(node.outputs)}")
    for v, t in zip(node.outputs, inferred):
        if not _compatible(v.type, t):
            raise VerifyError(f"{where}: result %{v.name} has type {format_type(v.type)}, but the op infers {format_type(t)}")


def _check_const(node: Node, where: str) -> None:
    arr = node.attrs["value"].array
    t = node.output.type
    if isinstance(t, CodebookType):  # value holds one index per kernel, not the weight
        check_codebook_const(node, where)
        return
    if tuple(arr.shape) != tuple(t.shape):
        raise VerifyError(f"{where}: constant of shape {list(arr.shape)} declared as {list(t.shape)}")
    if isinstance(t, QuantType):
        if arr.dtype.kind not in "iu":
            raise VerifyError(f"{where}: quantized constant must store integers, got {arr.dtype}")
        if arr.size and (arr.min() < t.qmin or arr.max() > t.qmax):
            raise VerifyError(f"{where}: constant values outside the {t.storage} range [{t.qmin}, {t.qmax}]")


def _compatible(declared: Type, inferred: Type) -> bool:
    """A declared result type matches inference when the plain dtype and the shape agree;
    quantized types refine a float result and symbolic dims match anything."""
    d_expr = declared.expressed
    i_expr = inferred.expressed
    if isinstance(declared, TensorType) and isinstance(inferred, TensorType) and declared.dtype != inferred.dtype:
        return False
    if not isinstance(declared, TensorType) and d_expr != i_expr:
        return False
    if len(declared.shape) != len(inferred.shape):
        return False
    return all(a == b or isinstance(a, str) or isinstance(b, str) for a, b in zip(declared.shape, inferred.shape))


def format_type(t: Type) -> str:
    from .printer import format_type as fmt  # printer depends on verifier-free modules only

    try:
        return fmt(t)
    except Exception:
        return repr(t)
