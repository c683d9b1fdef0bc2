"""Tensor constructors: zeros/ones/full (and their _like and new_ forms), arange; sizes
read from dynamic dims make them shape-driven ops evaluated at run time."""
from __future__ import annotations

import numpy as np
import torch

from ..ir.core import Value
from ..ir.types import numpy_dtype
from .fx_symbols import name_dim, name_dims, symbol_of
from .fx_table import aten, converts


def _filled(cx, dims, value) -> Value:
    dtype = cx.out_dtype()
    if all(isinstance(d, int) for d in dims):
        return cx.const(np.full([int(d) for d in dims], value, dtype=numpy_dtype(dtype)))
    return name_dims(cx.emit("constant_of_shape", [cx.shape_operand(dims)], value=float(value), dtype=dtype), dims)


def _dims(size) -> list:
    return list(size[0]) if len(size) == 1 and isinstance(size[0], (list, tuple)) else list(size)


@converts(torch.zeros, aten.zeros)
def zeros(cx, *size, **kwargs):
    return _filled(cx, _dims(size), 0)


@converts(torch.ones, aten.ones)
def ones(cx, *size, **kwargs):
    return _filled(cx, _dims(size), 1)


@converts(aten.new_zeros, methods=["new_zeros"])
def new_zeros(cx, x, *size, **kwargs):
    return _filled(cx, _dims(size), 0)


@converts(aten.new_ones, methods=["new_ones"])
def new_ones(cx, x, *size, **kwargs):
    return _filled(cx, _dims(size), 1)


@converts(aten.new_full, methods=["new_full"])
def new_full(cx, x, size, fill_value, **kwargs):
    return _filled(cx, list(size), fill_value)


@converts(torch.full, aten.full)
def full(cx, size, fill_value, **kwargs):
    return _filled(cx, list(size), fill_value)


@converts(torch.zeros_like, aten.zeros_like)
def zeros_like(cx, x, **kwargs):
    return _filled(cx, cx.sizes(x), 0)


@converts(torch.ones_like, aten.ones_like)
def ones_like(cx, x, **kwargs):
    return _filled(cx, cx.sizes(x), 1)


@converts(torch.full_like, aten.full_like)
def full_like(cx, x, fill_value, **kwargs):
    return _filled(cx, cx.sizes(x), fill_value)


@converts(torch.arange, aten.arange)
def arange(cx, *bounds, start=None, end=None, step=None, **kwargs):
    start, end, step = _range_bounds(bounds, start, end, step)
    dtype = cx.out_dtype()
    if not any(isinstance(b, Value) for b in (start, end, step)):
        return cx.const(np.arange(start, end, step, dtype=numpy_dtype(dtype)))
    # a bound read from a dynamic size (arange(batch), arange(seq)): a range at run time
    positions = cx.emit("range", [cx.value(b, dtype) for b in (start, end, step)])
    exact = isinstance(start, int) and start == 0 and isinstance(step, int) and step == 1
    return name_dim(positions, 0, symbol_of(end) if exact else None)


def _range_bounds(positional: tuple, start, end, step) -> tuple:
    """(start, end, step) of arange(end), arange(start, end[, step]) and their keyword forms."""
    named = {"start": start, "end": end, "step": step}
    if len(positional) == 1 and end is None and start is None:
        named["end"] = positional[0]
    else:
        free = iter(k for k in named if named[k] is None)
        named.update(zip(free, positional))
    start, end, step = named["start"], named["end"], named["step"]
    if end is None:  # arange(5, step=2): the one positional bound is the end
        start, end = None, start
    return 0 if start is None else start, end, 1 if step is None else step
