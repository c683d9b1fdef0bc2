"""Run an opaque `onnx.*` node by building a one-node ONNX model and running it in
onnxruntime (CPU). Sessions are cached per node signature: op, attributes, opset and
the dtypes/ranks of the inputs, so every call site with the same signature shares one.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Optional, Sequence

import numpy as np
import onnx

from ..frontends.onnx_types import DTYPE_TO_ONNX, OUTPUT_SLOTS_ATTR, split_opaque_name, to_onnx_attr
from ..ir.core import Node
from ..ir.types import dtype_of_numpy
from .errors import ExecutionError

_MAX_SESSIONS = 256
_sessions: "OrderedDict[tuple, object]" = OrderedDict()


def run_opaque(node: Node, inputs: Sequence[Optional[np.ndarray]]) -> list[np.ndarray]:
    """Run `node` (an `onnx.<OpType>` or `onnx.<domain>.<OpType>` node) on numpy inputs."""
    arrays = [None if a is None else np.asarray(a) for a in inputs]
    opset = _opset_imports(node)
    key = _signature(node, arrays, opset)
    session = _sessions.get(key)
    if session is None:
        session = _make_session(node, arrays, opset)
        _sessions[key] = session
        if len(_sessions) > _MAX_SESSIONS:
            _sessions.popitem(last=False)
    else:
        _sessions.move_to_end(key)
    feeds = {f"in{i}": a for i, a in enumerate(arrays) if a is not None}
    try:
        return list(session.run(None, feeds))
    except Exception as e:
        raise ExecutionError(f"node {node.label()}: onnxruntime failed: {e}") from None


# importer bookkeeping (onnx.output_slots) and pass decisions (q.range, q.method, ...):
# onnxruntime rejects attributes its schema does not know
NOT_ONNX_ATTRS = ("onnx.", "q.")


def onnx_attributes(node: Node) -> dict:
    """The node's ONNX attributes: everything but importer bookkeeping and pass decisions."""
    return {k: v for k, v in node.attrs.items() if not k.startswith(NOT_ONNX_ATTRS)}


def _opset_imports(node: Node) -> dict:
    graph_opsets = dict(node.graph.opset_imports) if node.graph is not None else {}
    domain, _ = split_opaque_name(node.op)
    graph_opsets.setdefault("", onnx.defs.onnx_opset_version())
    graph_opsets.setdefault(domain, 1)
    return graph_opsets


def _freeze(v):
    return tuple(_freeze(x) for x in v) if isinstance(v, (list, tuple)) else v


def _signature(node: Node, arrays, opset: dict) -> tuple:
    attrs = tuple(sorted((k, _freeze(v)) for k, v in onnx_attributes(node).items()))
    ins = tuple(None if a is None else (a.dtype.str, a.ndim) for a in arrays)
    slots = _freeze(node.attrs.get(OUTPUT_SLOTS_ATTR))
    return node.op, attrs, slots, tuple(sorted(opset.items())), ins, len(node.outputs)


def _make_session(node: Node, arrays, opset: dict):
    import onnxruntime as ort

    domain, op_type = split_opaque_name(node.op)
    model = build_one_node_model(node, arrays, opset)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    except Exception as e:
        raise ExecutionError(f"node {node.label()}: onnxruntime cannot build {domain or 'ai.onnx'}::{op_type} "
                             f"(opset {opset.get(domain)}): {e}") from None


def build_one_node_model(node: Node, arrays, opset: dict) -> onnx.ModelProto:
    domain, op_type = split_opaque_name(node.op)
    try:
        schema = onnx.defs.get_schema(op_type, opset.get(domain, 1), domain)
        schema_types = {k: a.type for k, a in schema.attributes.items()}
    except onnx.defs.SchemaError:
        schema_types = {}
    attrs = [to_onnx_attr(k, v, schema_types.get(k)) for k, v in onnx_attributes(node).items()]
    in_names = ["" if a is None else f"in{i}" for i, a in enumerate(arrays)]
    while in_names and not in_names[-1]:
        in_names.pop()
    slots = node.attrs.get(OUTPUT_SLOTS_ATTR, list(range(len(node.outputs))))
    out_names = [""] * (max(slots) + 1 if slots else 0)
    for j, slot in enumerate(slots):
        out_names[slot] = f"out{j}"
    onnx_node = onnx.helper.make_node(op_type, in_names, out_names, domain=domain or None)
    onnx_node.attribute.extend(attrs)
    graph_inputs = [onnx.helper.make_tensor_value_info(f"in{i}", DTYPE_TO_ONNX[dtype_of_numpy(a.dtype)],
                                                       [f"d{i}_{k}" for k in range(a.ndim)])
                    for i, a in enumerate(arrays) if a is not None]
    graph_outputs = [onnx.helper.make_empty_tensor_value_info(f"out{j}") for j in range(len(slots))]
    graph = onnx.helper.make_graph([onnx_node], "opaque", graph_inputs, graph_outputs)
    opsets = [onnx.helper.make_opsetid(d, v) for d, v in sorted(opset.items())]
    return onnx.helper.make_model(graph, opset_imports=opsets,
                                  ir_version=onnx.helper.find_min_ir_version_for(opsets, ignore_unknown=True))
