"""Ops that make new tensors from shapes and scalars: shape, constant_of_shape, range.

Their results feed shape-like operands, so inference is exact whenever the operands
are constants (and gives fresh "?" dims of the right rank otherwise).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ..errors import VerifyError
from ..registry import Attr, op, torch_impl
from ..types import DTYPES, TensorType, numpy_dtype
from .dtypes import TORCH_DTYPES, np_promote, promote_types, torch_promote
from .infer import plain
from .shape_operands import UNKNOWN, scalar_operand, shape_operand, to_ints


def _shape_type(types, attrs, consts):
    rank = plain(types[0]).rank
    return [TensorType("i64", (len(range(rank)[attrs["start"]:attrs["end"]]),))]


@op("shape", inputs=["x"], attrs={"start": Attr("int", 0), "end": Attr("int", None)}, infer=_shape_type)
def shape(x, start=0, end=None):
    """ONNX Shape: x's dims start..end (clamped like Python slicing) as i64."""
    return np.array(x.shape[start:end], dtype=np.int64)


@torch_impl("shape")
def shape_torch(x, start=0, end=None):
    return torch.tensor(tuple(x.shape[start:end]), dtype=torch.int64)


def _constant_of_shape_type(types, attrs, consts):
    if attrs["dtype"] not in DTYPES:
        raise VerifyError(f"constant_of_shape: unknown dtype {attrs['dtype']!r}; expected one of {sorted(DTYPES)}")
    dims, n = shape_operand(types, consts, 0, "shape operand", "constant_of_shape")
    if dims is not None and any(d < 0 for d in dims):
        raise VerifyError(f"constant_of_shape: negative dims in {dims}")
    return [TensorType(attrs["dtype"], (UNKNOWN,) * n if dims is None else dims)]


@op("constant_of_shape", inputs=["shape"], infer=_constant_of_shape_type,
    attrs={"value": Attr("float", 0.0), "dtype": Attr("str", "f32", choices=tuple(sorted(DTYPES)))})
def constant_of_shape(shape, value=0.0, dtype="f32"):
    """A tensor of the given shape filled with `value`."""
    return np.full(to_ints(shape), value, dtype=numpy_dtype(dtype))


@torch_impl("constant_of_shape")
def constant_of_shape_torch(shape, value=0.0, dtype="f32"):
    return torch.full(to_ints(shape), value, dtype=TORCH_DTYPES[dtype])


def _range_type(types, attrs, consts):
    dtype = promote_types(types, "range")
    start, limit, delta = (scalar_operand(types, consts, i, w, "range") for i, w in enumerate(("start", "limit", "delta")))
    if delta == 0:
        raise VerifyError("range: delta is 0")
    if None in (start, limit, delta):
        return [TensorType(dtype, (UNKNOWN,))]
    return [TensorType(dtype, (max(math.ceil((limit - start) / delta), 0),))]


@op("range", inputs=["start", "limit", "delta"], infer=_range_type)
def range_(start, limit, delta):
    """ONNX Range: start, start+delta, ... up to (excluding) limit."""
    return np.arange(start.item(), limit.item(), delta.item(), dtype=np_promote(start, limit, delta))


@torch_impl("range")
def range_torch(start, limit, delta):
    return torch.arange(start.item(), limit.item(), delta.item(), dtype=torch_promote(start, limit, delta))
