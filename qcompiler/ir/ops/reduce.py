"""Reductions over axes: reduce_mean/sum/max/min, argmax, and the running sum cumsum.

`axes=None` reduces every axis; an empty list reduces none (numpy's reading: torch
would reduce all for `dim=[]`, so the torch versions special-case it).
"""
from __future__ import annotations

import numpy as np
import torch

from ..errors import VerifyError
from ..registry import Attr, op, torch_impl
from ..types import TensorType
from .dtypes import require_int
from .infer import norm_axis, plain
from .shape_operands import scalar_operand


def _axes(axes, rank: int, where: str) -> tuple:
    if axes is None:
        return tuple(range(rank))
    out = tuple(sorted(norm_axis(a, rank, f"{where}: ") for a in axes))
    if len(set(out)) != len(out):
        raise VerifyError(f"{where}: repeated axes in {list(axes)}")
    return out


def _reduced_shape(shape, axes, keepdims: bool) -> tuple:
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _reduce_type(name):
    def infer(types, attrs, consts):
        x = plain(types[0])
        axes = _axes(attrs["axes"], x.rank, name)
        return [TensorType(x.dtype, _reduced_shape(x.shape, axes, attrs["keepdims"]))]

    return infer


def _np_mean(x, axis, keepdims):
    # integer means truncate like ONNX ReduceMean on integer tensors
    return np.mean(x, axis=axis, keepdims=keepdims).astype(x.dtype)


def _torch_mean(x, dim, keepdim):
    if x.is_floating_point():
        return torch.mean(x, dim=dim, keepdim=keepdim)
    return torch.mean(x.double(), dim=dim, keepdim=keepdim).to(x.dtype)


_REDUCTIONS = {
    "reduce_mean": (_np_mean, _torch_mean),
    "reduce_sum": (lambda x, axis, keepdims: np.sum(x, axis=axis, keepdims=keepdims, dtype=x.dtype),
                   lambda x, dim, keepdim: torch.sum(x, dim=dim, keepdim=keepdim, dtype=x.dtype)),
    "reduce_max": (np.max, lambda x, dim, keepdim: torch.amax(x, dim=dim, keepdim=keepdim)),
    "reduce_min": (np.min, lambda x, dim, keepdim: torch.amin(x, dim=dim, keepdim=keepdim)),
}
_REDUCE_ATTRS = {"axes": Attr("ints", None), "keepdims": Attr("bool", True)}


def _np_reduction(name, np_fn):
    def reference(x, axes=None, keepdims=True):
        return np.asarray(np_fn(x, axis=_axes(axes, x.ndim, name), keepdims=keepdims))

    return reference


def _torch_reduction(name, torch_fn):
    def implementation(x, axes=None, keepdims=True):
        dims = _axes(axes, x.dim(), name)
        return torch_fn(x, dims, keepdims) if dims else x.clone()

    return implementation


for _name, (_np_fn, _torch_fn) in _REDUCTIONS.items():
    op(_name, inputs=["x"], attrs=_REDUCE_ATTRS, infer=_reduce_type(_name),
       doc=f"{_name[7:]} over `axes` (None: all)")(_np_reduction(_name, _np_fn))
    torch_impl(_name)(_torch_reduction(_name, _torch_fn))


def _argmax_type(types, attrs, consts):
    x = plain(types[0])
    axis = norm_axis(attrs["axis"], x.rank, "argmax: ")
    return [TensorType("i64", _reduced_shape(x.shape, (axis,), attrs["keepdims"]))]


@op("argmax", inputs=["x"], attrs={"axis": Attr("int", 0), "keepdims": Attr("bool", True)}, infer=_argmax_type)
def argmax(x, axis=0, keepdims=True):
    """Index (i64) of the first maximum along `axis`."""
    return np.argmax(x, axis=axis, keepdims=keepdims).astype(np.int64)


@torch_impl("argmax")
def argmax_torch(x, axis=0, keepdims=True):
    return torch.argmax(x, dim=axis, keepdim=keepdims)


def _cumsum_type(types, attrs, consts):
    x = plain(types[0])
    require_int(types[1], "axis operand", "cumsum")
    axis = scalar_operand(types, consts, 1, "axis operand", "cumsum")
    if axis is not None:
        norm_axis(axis, x.rank, "cumsum: ")
    return [x]


@op("cumsum", inputs=["x", "axis"], infer=_cumsum_type)
def cumsum(x, axis):
    """Running sum along the axis given by the scalar operand `axis` (ONNX CumSum)."""
    return np.cumsum(x, axis=int(axis.reshape(-1)[0]), dtype=x.dtype)


@torch_impl("cumsum")
def cumsum_torch(x, axis):
    return torch.cumsum(x, dim=int(axis.reshape(-1)[0]), dtype=x.dtype)
