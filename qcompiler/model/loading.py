"""Turn what a user points at (a .onnx/.qir file, `module:factory`, a torch module or an
ONNX ModelProto) into a Graph, with one clear error when that is impossible."""
from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any, Optional

from ..frontends.dynamic_dims import DynamicDims
from ..ir.core import Graph
from ..ir.errors import FrontendError, QIRError


def load_model(model: Any, example_inputs: Any = None, *, dynamic_batch: bool = False,
               dynamic_dims: Optional[DynamicDims] = None) -> Graph:
    """A torch model is traced on `example_inputs`, symbolic in the dims `dynamic_dims`
    names (frontends/dynamic_dims.py; `dynamic_batch` adds dim 0 of every input); an
    ONNX model keeps the dims its file declares, symbolic ones included (`dynamic_dims`
    makes more of them symbolic, `dynamic_batch=False` fixes dim 0 to the examples'); a
    .qir file or a Graph has its dims written out, and refuses `dynamic_dims`."""
    if isinstance(model, Graph):
        _refuse_dynamic_dims(dynamic_dims, "a Graph")
        return model
    if isinstance(model, (str, os.PathLike)):
        return _load_path(str(model), example_inputs, dynamic_batch, dynamic_dims)
    if _is_torch_module(model):
        if example_inputs is None:
            raise FrontendError("a torch.nn.Module needs example_inputs (a tensor or a tuple of tensors) to be traced")
        from ..frontends.fx import import_module

        return import_module(model, example_inputs, dynamic_batch=dynamic_batch, dynamic_dims=dynamic_dims)
    if type(model).__name__ == "ModelProto":
        return _import_onnx(model, example_inputs, dynamic_batch, dynamic_dims)
    raise FrontendError(f"cannot import a {type(model).__name__}: expected a torch.nn.Module, an ONNX model "
                        f"(path or ModelProto), a .qir file or 'module:factory'")


def _refuse_dynamic_dims(dynamic_dims, source: str) -> None:
    if dynamic_dims:
        raise FrontendError(f"{source}: dynamic_dims applies to torch and ONNX models; an IR graph declares its "
                            f"dims itself (write a symbol such as 'W' in its input type)")


def _load_path(spec: str, example_inputs, dynamic_batch: bool, dynamic_dims) -> Graph:
    suffix = Path(spec).suffix.lower()
    if suffix == ".onnx":
        if not Path(spec).is_file():
            raise FrontendError(f"{spec}: no such file")
        return _import_onnx(spec, example_inputs, dynamic_batch, dynamic_dims)
    if suffix == ".qir":
        if not Path(spec).is_file():
            raise FrontendError(f"{spec}: no such file")
        _refuse_dynamic_dims(dynamic_dims, spec)
        from ..ir.serialize import load_qir

        return load_qir(spec)
    if ":" in spec and not Path(spec).exists():
        return _load_factory(spec, example_inputs, dynamic_batch, dynamic_dims)
    raise FrontendError(f"{spec}: expected a .onnx or .qir file, or 'package.module:factory' returning a torch model")


def _import_onnx(model, example_inputs, dynamic_batch: bool, dynamic_dims) -> Graph:
    """Declared symbolic dims stay symbolic, so the compiled model runs at every size the
    source model runs at; the example inputs only fill in what the file leaves open (a
    missing shape, dim 0 with `dynamic_batch=False`) and must fit its static dims
    (but for the batch)."""
    from ..frontends.onnx import import_onnx

    if example_inputs is None and dynamic_dims is None:
        return import_onnx(model)
    import onnx

    is_path = isinstance(model, (str, os.PathLike))
    try:
        proto = onnx.load(model, load_external_data=False) if is_path else model
    except Exception:  # unreadable: import_onnx says so, naming the file
        return import_onnx(model)
    if not proto.graph.output:  # empty or truncated: import_onnx says so, not an input count
        return import_onnx(model)
    source = str(model) if is_path else "the ONNX model"
    return import_onnx(model, input_shapes=_onnx_input_shapes(proto, example_inputs, source, dynamic_batch,
                                                              dynamic_dims))


def _onnx_input_shapes(proto, example_inputs, source: str, dynamic_batch: bool, dynamic_dims) -> dict:
    from ..frontends.dynamic_dims import dims_per_input

    initializers = {t.name for t in proto.graph.initializer}
    inputs = [v for v in proto.graph.input if v.name not in initializers]
    examples = [None] * len(inputs)
    if example_inputs is not None:
        examples = list(example_inputs) if isinstance(example_inputs, (tuple, list)) else [example_inputs]
        if len(examples) != len(inputs):
            raise FrontendError(f"{source} takes {len(inputs)} inputs ({', '.join(v.name for v in inputs)}), "
                                f"{len(examples)} example inputs were given")
    declared = [_declared_dims(v, x, dynamic_batch) for v, x in zip(inputs, examples)]
    symbols = dims_per_input(dynamic_dims, [v.name for v in inputs], [len(d or ()) for d in declared], source)
    shapes = {}
    for v, dims, x, named in zip(inputs, declared, examples, symbols):
        if dims is None:
            continue  # no shape from the file or an example: ONNX shape inference decides
        example = None if x is None else list(getattr(x, "shape", ()))
        # the batch is exempt: a fixed-batch model runs a larger batch in chunks
        if example is not None and (len(example) != len(dims) or any(
                isinstance(d, int) and d != e for d, e in zip(dims[1:], example[1:]))):
            raise FrontendError(f"{source}: input '{v.name}' is declared {_shape_text(dims)}, "
                                f"but its example input has shape {example}")
        if dims and not dynamic_batch and not isinstance(dims[0], int):
            dims[0] = example[0] if example else 1
        for axis, symbol in named.items():
            dims[axis] = symbol
        shapes[v.name] = dims
    return shapes


def _declared_dims(v, example, dynamic_batch: bool) -> Optional[list]:
    """An input's dims as its file declares them (ints, symbol names, '?'); when it
    declares none, the example's shape (dim 0 free with `dynamic_batch`), or None."""
    t = v.type.tensor_type
    if not t.HasField("shape"):
        if example is None:
            return None
        dims = list(getattr(example, "shape", ()))
        return ["N"] + dims[1:] if dims and dynamic_batch else dims
    return [d.dim_value if d.HasField("dim_value") and d.dim_value >= 0 else (d.dim_param or "?")
            for d in t.shape.dim]


def _shape_text(dims: list) -> str:
    return "[" + ", ".join(str(d) for d in dims) + "]"


def _load_factory(spec: str, example_inputs, dynamic_batch: bool, dynamic_dims) -> Graph:
    """`pkg.mod:factory` calls factory(); it returns a module, or (module, example_inputs)."""
    mod_name, _, attr = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(mod_name), attr)
    except (ImportError, AttributeError) as e:
        raise FrontendError(f"{spec}: cannot load the factory: {e}") from None
    if not callable(factory):
        raise FrontendError(f"{spec}: {attr} is a {type(factory).__name__}, not a factory function")
    try:
        made = factory()
    except Exception as e:  # user code: whatever it raises is reported as the factory's failure
        raise FrontendError(f"{spec}: calling the factory failed: {type(e).__name__}: {e}") from None
    default_inputs = None
    if isinstance(made, tuple) and len(made) == 2 and _is_torch_module(made[0]):
        made, default_inputs = made
    if not _is_torch_module(made):
        raise FrontendError(f"{spec}: the factory returned {type(made).__name__}, not a torch.nn.Module "
                            f"(or a (module, example_inputs) pair)")
    if example_inputs is None:
        return load_model(made, default_inputs, dynamic_batch=dynamic_batch, dynamic_dims=dynamic_dims)
    try:
        return load_model(made, example_inputs, dynamic_batch=dynamic_batch, dynamic_dims=dynamic_dims)
    except FrontendError:
        # the factory's own examples say what the model takes: name that, not the node the data broke
        given, expected = _shapes(example_inputs), _shapes(default_inputs)
        if default_inputs is None or [s[1:] for s in given] == [s[1:] for s in expected]:
            raise
        raise FrontendError(f"{spec}: the model takes inputs shaped like its factory's examples "
                            f"{', '.join(map(str, expected))} (any batch), given {', '.join(map(str, given))} "
                            f"(the example inputs, or the first calibration sample)") from None


def _shapes(inputs) -> list:
    items = inputs if isinstance(inputs, (tuple, list)) else (inputs,)
    return [list(getattr(x, "shape", ())) for x in items]


def _is_torch_module(obj: Any) -> bool:
    try:
        import torch
    except ImportError:
        return False
    return isinstance(obj, torch.nn.Module)


def parse_shape(text: Optional[str]) -> Optional[tuple]:
    """'1,3,224,224' -> (1, 3, 224, 224)."""
    if not text:
        return None
    try:
        shape = tuple(int(d) for d in text.split(","))
    except ValueError:
        shape = ()
    if not shape or any(d < 1 for d in shape):
        raise FrontendError(f"--input-shape {text!r}: expected comma-separated positive integers like 1,3,224,224")
    return shape


class DataFileError(QIRError):
    """A data file (calibration samples) that is missing or not plain numeric arrays."""


def load_arrays(path) -> Any:
    """Samples from a `.npy` (one array: a single-input model) or `.npz` file (arrays by
    input name; a single array is taken whatever its name). Nothing is unpickled."""
    from ..ir.array_files import ArrayFileError, read_arrays

    path = Path(path)
    if path.suffix.lower() not in (".npy", ".npz"):
        raise DataFileError(f"{path}: expected a .npy or .npz file of samples")
    try:
        arrays = read_arrays(path)
    except ArrayFileError as e:
        raise DataFileError(str(e)) from None
    if not arrays:
        raise DataFileError(f"{path}: holds no arrays")
    for name, a in arrays.items():
        what = f"array '{name}'" if name else "the array"
        if a.dtype.kind not in "fiub":
            raise DataFileError(f"{path}: {what} has dtype {a.dtype}; samples must be numbers")
        if a.ndim == 0:
            raise DataFileError(f"{path}: {what} is a single number; samples need a batch dimension [N, ...]")
    return next(iter(arrays.values())) if len(arrays) == 1 else arrays
