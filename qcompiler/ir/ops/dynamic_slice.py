"""dynamic_slice: ONNX Slice whose starts, ends, axes and steps are operands computed at
run time (`position_ids[:, :seq]` with seq read from the input's shape), where `slice`
takes them as attributes. Same clamping semantics; the sliced dims are unknown ("?")
unless every bound is a constant."""
from __future__ import annotations

import torch

from ..errors import VerifyError
from ..registry import op, torch_impl
from ..types import TensorType
from .dtypes import require_int
from .indexing import _slice_type, slice_, slice_torch
from .infer import norm_axis, plain
from .shape_operands import UNKNOWN, to_ints

_BOUNDS = ("starts", "ends", "axes", "steps")


def _bounds(types, consts, where: str) -> list:
    """Each bound operand's length (static) after checking it is a 1-D integer tensor."""
    lengths = []
    for i, what in enumerate(_BOUNDS[:len(types) - 1], start=1):
        t = plain(types[i])
        require_int(t, what, where)
        if t.rank != 1:
            raise VerifyError(f"{where}: {what} must be 1-D, got shape {list(t.shape)}")
        lengths.append(t.shape[0])
    return lengths


def _dynamic_slice_type(types, attrs, consts):
    x = plain(types[0])
    lengths = _bounds(types, consts, "dynamic_slice")
    known = [d for d in lengths if isinstance(d, int)]
    if len(set(known)) > 1:
        raise VerifyError(f"dynamic_slice: starts, ends, axes and steps need equal lengths, got {lengths}")
    if all(c is not None for c in consts[1:]):
        return _slice_type(types[:1], dict(zip(_BOUNDS, (to_ints(c) for c in consts[1:]))), [None])
    if len(types) > 3 and consts[3] is None:
        return [TensorType(x.dtype, (UNKNOWN,) * x.rank)]  # any axis may be cut
    axes = to_ints(consts[3]) if len(types) > 3 else (list(range(lengths[0])) if known else None)
    if axes is None:
        return [TensorType(x.dtype, (UNKNOWN,) * x.rank)]
    cut = {norm_axis(a, x.rank, "dynamic_slice: ") for a in axes}
    return [TensorType(x.dtype, tuple(UNKNOWN if i in cut else d for i, d in enumerate(x.shape)))]


def _attrs(bounds) -> dict:
    return {name: to_ints(b) for name, b in zip(_BOUNDS, bounds) if b is not None}


@op("dynamic_slice", inputs=["x", "starts", "ends", "axes?", "steps?"], infer=_dynamic_slice_type)
def dynamic_slice(x, starts, ends, axes=None, steps=None):
    """ONNX Slice with run-time bound operands (clamped to each dim)."""
    return slice_(x, **_attrs((starts, ends, axes, steps)))


@torch_impl("dynamic_slice")
def dynamic_slice_torch(x, starts, ends, axes=None, steps=None):
    return slice_torch(x, **_attrs((starts, ends, axes, steps)))
