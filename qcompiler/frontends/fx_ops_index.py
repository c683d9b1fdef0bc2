"""Sizes and metadata, indexing (x[..., 1:3, None]) and tensor constructors."""
from __future__ import annotations

import builtins
import operator

import numpy as np
import torch

from ..ir.core import Value
from ..ir.types import numpy_dtype
from .fx_table import aten, converts

_END = 2**63 - 1  # "to the end"; slice clamps it like ONNX Slice


# --- sizes and metadata ------------------------------------------------------------------
@converts(aten.sym_size, methods=["size"])
def size(cx, x, dim=None):
    return cx.sizes(x) if dim is None else cx.dim(x, int(dim))


@converts(torch.numel, aten.numel, aten.sym_numel, methods=["numel", "nelement"])
def numel(cx, x):
    total = 1
    for d in cx.sizes(x):
        total = total * d if isinstance(d, int) else cx.emit("mul", [d, cx.i64([total])])
    return total


@converts(methods=["dim", "ndimension"])
def dim(cx, x):
    return cx.rank(x)


@converts(aten.numpy_T)
def reverse_dims(cx, x):
    return cx.emit("transpose", [x], perm=list(reversed(range(cx.rank(x)))))


@converts(aten.mT)
def swap_last_dims(cx, x):
    perm = list(range(cx.rank(x)))
    perm[-2:] = perm[-1], perm[-2]
    return cx.emit("transpose", [x], perm=perm)


@converts(builtins.getattr)
def getattr_(cx, x, name):
    if not isinstance(x, Value):
        return getattr(x, name)
    if name == "shape":
        return cx.sizes(x)
    if name == "ndim":
        return cx.rank(x)
    if name == "T":
        return reverse_dims(cx, x)
    if name == "mT":
        return swap_last_dims(cx, x)
    if name in ("dtype", "device", "is_nested", "is_cuda", "layout", "requires_grad", "is_quantized"):
        return cx.recorded()
    raise cx.error(f"unsupported tensor attribute '{name}'")


# --- indexing --------------------------------------------------------------------------
@converts(operator.getitem)
def getitem(cx, obj, index):
    if not isinstance(obj, Value):  # a Python sequence: sizes, results of split/chunk/max(dim)
        return obj[index]
    return _index(cx, obj, list(index) if isinstance(index, tuple) else [index])


def _index(cx, x: Value, items: list) -> Value:
    tensor_indices = [i for i in items if isinstance(i, Value)]
    if len(tensor_indices) > 1 or any(cx.dtype(i) == "bool" for i in tensor_indices):
        raise cx.error("indexing with several index tensors or a boolean mask is not supported")
    if any(i is Ellipsis for i in items):
        k = next(n for n, i in enumerate(items) if i is Ellipsis)
        used = sum(1 for i in items if i is not None and i is not Ellipsis)
        items[k:k + 1] = [slice(None)] * (cx.rank(x) - used)
    axis = 0
    for item in items:
        if item is None:
            x = cx.emit("unsqueeze", [x], axes=[axis])
            axis += 1
        elif isinstance(item, slice):
            if item != slice(None):
                x = slice_(cx, x, axis, item.start, item.stop, item.step or 1)
            axis += 1
        elif isinstance(item, Value):
            x = cx.emit("gather", [x, item], axis=axis)
            axis += cx.rank(item)
        elif isinstance(item, int):
            x = cx.emit("gather", [x, cx.const(np.int64(item))], axis=axis)
        else:
            raise cx.error(f"unsupported index {item!r}")
    return x


@converts(aten.slice)
def slice_(cx, x, dim=0, start=None, end=None, step=1):
    if isinstance(start, Value) or isinstance(end, Value):
        raise cx.error("slicing with bounds that depend on the batch size is not supported")
    start, end = 0 if start is None else int(start), _END if end is None else min(int(end), _END)
    return cx.emit("slice", [x], starts=[start], ends=[end], axes=[int(dim)], steps=[int(step)])


@converts(torch.narrow, aten.narrow, methods=["narrow"])
def narrow(cx, x, dim, start, length):
    return slice_(cx, x, dim, start, start + length)


@converts(torch.select, aten.select, methods=["select"])
def select(cx, x, dim, index):
    return cx.emit("gather", [x, cx.const(np.int64(index))], axis=int(dim))


@converts(torch.index_select, aten.index_select, methods=["index_select"])
def index_select(cx, x, dim, index):
    return cx.emit("gather", [x, index], axis=int(dim))


@converts(aten.index)
def index(cx, x, indices):
    return _index(cx, x, [slice(None) if i is None else i for i in indices])


# --- constructors ----------------------------------------------------------------------
def _filled(cx, dims, value) -> Value:
    dtype = cx.out_dtype()
    if all(isinstance(d, int) for d in dims):
        return cx.const(np.full([int(d) for d in dims], value, dtype=numpy_dtype(dtype)))
    return cx.emit("constant_of_shape", [cx.shape_operand(dims)], value=float(value), dtype=dtype)


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
def arange(cx, *bounds, **kwargs):
    if any(isinstance(b, Value) for b in bounds):
        raise cx.error("arange with bounds that depend on the batch size is not supported")
    return cx.const(np.arange(*bounds, dtype=numpy_dtype(cx.out_dtype())))
