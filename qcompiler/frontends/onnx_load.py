"""Loading an ONNX model for import: parse (with clear errors for malformed files), check
that external data stays inside the model's folder, inline model-local functions, apply
input-shape overrides and run ONNX shape inference (with data propagation).
"""
from __future__ import annotations

import contextlib
import logging
import os
from typing import Mapping, Optional, Sequence, Union

import numpy as np
import onnx
import onnx_ir as ir
from onnx_ir.passes.common import InlinePass, ShapeInferencePass

from ..ir.errors import FrontendError

ModelSource = Union[str, os.PathLike, onnx.ModelProto]


def load_model(model: ModelSource, *, input_shapes: Optional[Mapping[str, Sequence]] = None,
               dynamic_batch: Optional[bool] = None) -> tuple[ir.Model, str]:
    """Return the onnx-ir model ready for conversion and a label naming its source."""
    if isinstance(model, onnx.ModelProto):
        proto, source, folder = model, "<onnx.ModelProto>", None
    else:
        source = os.fspath(model)
        proto = _parse(source)
        folder = os.path.dirname(os.path.abspath(source))
    _check_external_data(proto, folder, source)
    try:
        with _quiet_onnx_ir():
            irm = ir.serde.deserialize_model(proto)
    except Exception as e:
        raise FrontendError(f"{source}: malformed ONNX model: {type(e).__name__}: {e}") from None
    if not irm.graph.outputs:
        raise FrontendError(f"{source}: the model has no graph outputs (empty or truncated file?)")
    if folder is not None:
        ir.external_data.set_base_dir(irm.graph, folder)
    if irm.functions:
        InlinePass()(irm)
    _set_input_shapes(irm.graph, input_shapes or {}, dynamic_batch, source)
    with _quiet_onnx_ir():
        ShapeInferencePass(check_type=False, strict_mode=False, data_prop=True)(irm)
    return irm, source


@contextlib.contextmanager
def _quiet_onnx_ir():
    """onnx_ir logs dangling inputs and failed shape inference as warnings with
    tracebacks; the importer reports the same defects itself as one error naming the
    node, so the user would read them twice, the first time as a traceback."""
    logger = logging.getLogger("onnx_ir")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _parse(path: str) -> onnx.ModelProto:
    if not os.path.isfile(path):
        raise FrontendError(f"{path}: no such ONNX file")
    try:
        return onnx.load(path, load_external_data=False)
    except Exception as e:
        raise FrontendError(f"{path}: not a readable ONNX model (truncated or corrupt?): "
                            f"{type(e).__name__}: {e}") from None


def _graph_tensors(proto: onnx.ModelProto):
    yield from proto.graph.initializer
    for node in proto.graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors


def _check_external_data(proto: onnx.ModelProto, folder: Optional[str], source: str) -> None:
    """External data may only come from files inside the model's own folder."""
    for tensor in _graph_tensors(proto):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        location = {e.key: e.value for e in tensor.external_data}.get("location", "")
        where = f"{source}: tensor '{tensor.name}' stores its data in '{location}'"
        if folder is None:
            raise FrontendError(f"{where}, but the model was given as a ModelProto; "
                                "import it from its file so the data can be found next to it")
        if not location or os.path.isabs(location):
            raise FrontendError(f"{where}: external data must be a relative path inside {folder}")
        real_folder = os.path.realpath(folder)
        real = os.path.realpath(os.path.join(folder, location))
        if os.path.commonpath([real, real_folder]) != real_folder:
            raise FrontendError(f"{where}, which is outside the model's folder {folder}")
        if not os.path.isfile(real):
            raise FrontendError(f"{where}, which does not exist")


def _dim(d, where: str):
    if isinstance(d, str):
        return ir.SymbolicDim(None if d == "?" else d)
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)):
        raise FrontendError(f"{where}: a dim must be an int or a string (a symbol, or '?'), got {d!r}")
    return int(d)


def _set_input_shapes(graph: ir.Graph, input_shapes: Mapping, dynamic_batch: Optional[bool], source: str) -> None:
    """Apply user shapes, the dynamic-batch choice, and turn invalid negative dims
    (some exporters write -1) into unknown ones."""
    inputs = {v.name: v for v in graph.inputs if v.name not in graph.initializers}
    unknown = sorted(set(input_shapes) - set(inputs))
    if unknown:
        raise FrontendError(f"{source}: input_shapes names {unknown}, but the graph inputs are {sorted(inputs)}")
    for name, v in inputs.items():
        if name in input_shapes:
            dims = [_dim(d, f"{source}: input_shapes['{name}']") for d in input_shapes[name]]
            if v.shape is not None and len(v.shape) != len(dims):
                raise FrontendError(f"{source}: input '{name}' has rank {len(v.shape)}, "
                                    f"input_shapes gives {list(input_shapes[name])}")
        elif v.shape is not None:
            dims = [ir.SymbolicDim(None) if isinstance(d, int) and d < 0 else d for d in v.shape]
        else:
            continue
        if dims and dynamic_batch is True:
            dims[0] = dims[0] if isinstance(dims[0], ir.SymbolicDim) and dims[0].value else ir.SymbolicDim("N")
        elif dims and dynamic_batch is False and not isinstance(dims[0], int):
            dims[0] = 1
        v.shape = ir.Shape(dims)
