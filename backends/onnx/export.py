"""`export(graph, path, form=..., opset=...)`: an IR graph as a standard ONNX model.

Forms (docs/quantization.md, section 4):

- `float`: a float graph, op for op;
- `qdq`: the fake-quant graph (after `quantize`): QuantizeLinear / DequantizeLinear
  pairs around quantized activations, weights as integer initializers + DequantizeLinear;
- `qoperator`: the lowered graph (after `lower`) with ONNX Runtime's quantized
  operators (QLinearConv, QLinearMatMul, com.microsoft QLinearAdd, ...), which
  requantize in float and so may differ from our dyadic arithmetic by one step;
- `integer`: the lowered graph with our arithmetic spelled out in exact integer ONNX
  ops (ConvInteger / MatMulInteger, int64 multiply, rounding shift, clamp): its integer
  results equal the reference interpreter's.

The `qoperator` form runs its 2-D integer convolutions channels-last where that needs
no Transpose (`channels_last`, see channels_last.py).

Codebook weights (docs/codebook.md) are written as `codebook="gather"` (Gather of the
int8 codebook by index, the default) or `codebook="int8"` (int8 weights), see codebook.py.

`export` writes all or nothing (`write_model`). Every model passes
`onnx.checker.check_model(..., full_check=True)`. Graph inputs and
outputs keep their IR names and are float, like the reference interpreter's; inside, a
quantized IR value `%v` has its storage in the ONNX value `v:q` (weights: their
initializer, named after `origin`) and its real value, where one is needed, in `v`.
"""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Optional, Union

import onnx
import onnx_ir as ir

from qcompiler.atomic_write import atomic_directory, atomic_file
from qcompiler.ir.core import Graph
from qcompiler.ir.registry import get_op, is_opaque
from qcompiler.ir.types import is_quantized

from .channels_last import to_channels_last
from .codebook import expand_codebooks
from .emitters import FORMS
from .errors import OnnxExportError
from .exporter import Exporter
from .ibert import refuse_ibert_kernels
from .opsets import opset_imports
from .width_blocked_conv import LEFT_WHOLE

PROTOBUF_LIMIT = 2 ** 31  # bytes: a larger model cannot be one protobuf message


def default_form(graph: Graph) -> str:
    """float for a float graph, qdq for a fake-quant graph, integer for a lowered one."""
    if not any(is_quantized(v.type) for v in graph.values()):
        return "float"
    lowered = any(not is_opaque(n.op) and n.op != "quantize" and get_op(n.op).integer for n in graph.nodes)
    return "integer" if lowered else "qdq"


def to_onnx(graph: Graph, form: Optional[str] = None, opset: Optional[int] = None, *,
            check: bool = True, codebook: str = "gather", channels_last: Optional[bool] = None) -> onnx.ModelProto:
    """The ONNX model of `graph` in `form` (default: `default_form`), codebook weights
    spelled as `codebook`, checked with the full ONNX checker unless `check=False`.
    `channels_last` (qoperator only): None runs the convolutions channels-last where no
    Transpose is needed, True wherever they can, False never (channels_last.py)."""
    graph = expand_codebooks(graph, codebook)
    refuse_ibert_kernels(graph)
    form = form or default_form(graph)
    if form not in FORMS:
        raise OnnxExportError(f"unknown export form {form!r}; expected one of {', '.join(FORMS)}")
    if channels_last not in (None, True, False):
        raise OnnxExportError(f"channels_last={channels_last!r}: expected None (channels-last where ONNX Runtime "
                              f"then runs no Transpose), True or False")
    if channels_last and form != "qoperator":
        raise OnnxExportError(f"channels_last=True applies to the qoperator form, not {form!r}: standard ONNX "
                              f"Conv, ConvInteger and pools are channels-first only, and ONNX Runtime lays out "
                              f"such a model itself (docs/onnx-export.md, 'Channels-last')")
    imports = opset_imports(graph, form, opset)
    exporter = Exporter(graph, form, imports, channels_last if form == "qoperator" else False)
    model = exporter.run()
    if form == "qoperator" and not to_channels_last(model, exporter.known_shapes(), channels_last) \
            and LEFT_WHOLE in exporter.cache:  # a grey stem left whole to be blocked: unfold it after all
        model = Exporter(graph, form, imports).run()
    proto = ir.serde.serialize_model(model)
    if check:
        try:
            _check_model(proto)
        except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
            where = _emitting_node(graph, str(e)) or f"graph @{graph.name}"
            opset_used = model.opset_imports[""]
            raise OnnxExportError(f"{where}: the exported {form} model fails the ONNX checker at opset {opset_used}: "
                                  f"{e}{_type_hint(str(e), opset_used)}") from None
    return proto


def _type_hint(message: str, opset: int) -> str:
    """For a type an op takes only in a newer opset, which one: advice that works."""
    match = re.search(r"op_type:(\w+).*typestr: (\w+), has unsupported type: (tensor\(\w+\))", message)
    if match is None:
        return ""
    op_type, param, tensor_type = match.groups()
    for version in range(opset + 1, onnx.defs.onnx_opset_version() + 1):
        try:
            schema = onnx.defs.get_schema(op_type, version, "")
        except onnx.defs.SchemaError:
            return ""
        allowed = {c.type_param_str: c.allowed_type_strs for c in schema.type_constraints}.get(param, ())
        if tensor_type in allowed:
            return f"; {op_type} takes {tensor_type} from opset {schema.since_version}: export with opset={version}"
    return ""


def _check_model(proto: onnx.ModelProto) -> None:
    """The full ONNX check; a model past protobuf's limit is checked as files (its tensors
    in a .data file), the only form the checker reads it in."""
    if proto.ByteSize() < PROTOBUF_LIMIT:
        onnx.checker.check_model(proto, full_check=True)
        return
    with tempfile.TemporaryDirectory(prefix="qcompiler-check-") as folder:
        path = os.path.join(folder, "model.onnx")
        _save_external(proto, path)
        onnx.checker.check_model(path, full_check=True)


def _save_external(proto: onnx.ModelProto, path: str) -> None:
    """`proto` at `path` with its tensors in `<path>.data` (leaving `proto` as it was)."""
    copy = onnx.ModelProto()
    copy.CopyFrom(proto)  # saving moves the tensors out of the proto it is given
    onnx.save(copy, path, save_as_external_data=True, all_tensors_to_one_file=True,
              location=f"{os.path.basename(path)}.data")


def _emitting_node(graph: Graph, message: str) -> Optional[str]:
    """The IR node that wrote the ONNX node a checker message names: ONNX nodes are named
    `<first result of the IR node>:<op type>` (IR names hold no ':')."""
    match = re.search(r"node name: ([^)\s]+)", message)
    if match is None:
        return None
    scope = match.group(1).split(":")[0]
    node = next((n for n in graph.nodes if n.outputs and n.outputs[0].name == scope), None)
    return f"node {node.label()}" if node is not None else None


def export(graph: Graph, path: Union[str, os.PathLike], form: Optional[str] = None, opset: Optional[int] = None,
           *, check: bool = True, codebook: str = "gather", external_data: Optional[bool] = None,
           channels_last: Optional[bool] = None) -> onnx.ModelProto:
    """Write `graph` to `path` as ONNX (see `to_onnx`, `write_model`); returns the model."""
    proto = to_onnx(graph, form, opset, check=check, codebook=codebook, channels_last=channels_last)
    write_model(proto, path, external_data)
    return proto


def write_model(proto: onnx.ModelProto, path: Union[str, os.PathLike], external_data: Optional[bool] = None) -> None:
    """Write `proto` to `path`, all or nothing (a full disk leaves the old file, never a
    truncated one). With `external_data` (default: when the model exceeds protobuf's
    2 GB) the tensors go to `<name>.data` next to it, written before the `.onnx` that
    reads them, which replaces the old one only then."""
    path = Path(path)
    if external_data is None:
        external_data = proto.ByteSize() >= PROTOBUF_LIMIT
    if not external_data:
        with atomic_file(path) as partial:
            onnx.save(proto, os.fspath(partial))
        return
    with atomic_directory(path.parent, marker=path.name) as partial:
        _save_external(proto, os.fspath(partial / path.name))
