"""Sizes and metadata, indexing (x[..., 1:3, None], x[i, j], bounds read from dynamic sizes) and torch.gather."""
from __future__ import annotations

import builtins
import operator

import numpy as np
import torch

from ..ir.core import Value
from .fx_symbols import name_dim, name_dims, symbol_of
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
        total = _times(cx, total, d)
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
    if any(cx.dtype(i) == "bool" for i in tensor_indices):
        raise cx.error("indexing with a boolean mask is not supported (its result's size depends on the data)")
    if any(i is Ellipsis for i in items):
        k = next(n for n, i in enumerate(items) if i is Ellipsis)
        used = sum(1 for i in items if i is not None and i is not Ellipsis)
        items[k:k + 1] = [slice(None)] * (cx.rank(x) - used)
    if len(tensor_indices) > 1:
        if None in items:
            raise cx.error("indexing with several index tensors and None together is not supported")
        return _index_several(cx, x, items)
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


def _index_several(cx, x: Value, items: list) -> Value:
    """x[i, :, j] with several index tensors (numpy advanced indexing): the indexed axes,
    moved to the front unless adjacent, merge into one axis that the broadcast flat
    positions of the indices gather from."""
    # an int among index tensors is one more (0-d) index tensor, as in numpy
    items = [cx.i64(i) if isinstance(i, int) else i for i in items] + [slice(None)] * (cx.rank(x) - len(items))
    indexed = [a for a, i in enumerate(items) if isinstance(i, Value)]
    for a, item in enumerate(items):
        if not isinstance(item, Value) and item != slice(None):
            x, items[a] = slice_(cx, x, a, item.start, item.stop, item.step or 1), slice(None)
    first = indexed[0]
    if indexed != list(range(first, first + len(indexed))):  # numpy puts the result dims first
        rest = [a for a in range(cx.rank(x)) if a not in indexed]
        x, items, first = cx.emit("transpose", [x], perm=indexed + rest), [items[a] for a in indexed + rest], 0
        indexed = list(range(len(indexed)))
    flat, stride = None, 1
    for a in reversed(indexed):
        n = cx.dim(x, a)
        i = cx.cast(items[a], "i64")
        i = cx.emit("where", [cx.emit("less", [i, cx.i64(0)]), cx.emit("add", [i, _as_i64(cx, n)]), i])
        term = i if _is_one(stride) else cx.emit("mul", [i, _as_i64(cx, stride)])
        flat = term if flat is None else cx.emit("add", [flat, term])
        stride = _times(cx, stride, n)
    trailing = [cx.dim(x, a) for a in range(indexed[-1] + 1, cx.rank(x))]
    merged = cx.emit("reshape", [x, cx.shape_operand([0] * first + [-1] + trailing)])
    return cx.emit("gather", [merged, flat], axis=first)


@converts(aten.slice)
def slice_(cx, x, dim=0, start=None, end=None, step=1):
    if isinstance(start, Value) or isinstance(end, Value):
        return _slice_at_run_time(cx, x, int(dim), start, end, int(step))
    start, end = 0 if start is None else int(start), _END if end is None else min(int(end), _END)
    return cx.emit("slice", [x], starts=[start], ends=[end], axes=[int(dim)], steps=[int(step)])


def _slice_at_run_time(cx, x: Value, dim: int, start, end, step: int) -> Value:
    """x[start:end:step] along `dim` with a bound read from a dynamic size (position_ids[:, :seq]):
    the catalog's slice takes constant bounds, so gather the range of positions instead."""
    n = cx.dim(x, dim)
    n = n if isinstance(n, Value) else cx.i64([n])
    lo = cx.i64([0]) if start is None else _clamped(cx, start, n)
    hi = n if end is None else _clamped(cx, end, n)
    sliced = cx.emit("gather", [x, cx.emit("range", [lo, hi, cx.i64([step])])], axis=dim)
    # x[:S] has S entries wherever the model runs: x holds at least S there (torch.export
    # guards S <= len(x) likewise), else its results would not fit the length-S tensors
    prefix = start in (None, 0) and step == 1
    return name_dim(sliced, dim, symbol_of(end) if prefix else None)


def _clamped(cx, bound, n: Value) -> Value:
    """A slice bound as torch reads it: negative counts from the end, then clamped to [0, n]."""
    if isinstance(bound, int):
        if bound >= 0:
            return cx.emit("minimum", [cx.i64([bound]), n])
        return cx.emit("maximum", [cx.emit("add", [n, cx.i64([bound])]), cx.i64([0])])
    bound = cx.cast(bound, "i64")
    wrapped = cx.emit("where", [cx.emit("less", [bound, cx.i64([0])]), cx.emit("add", [bound, n]), bound])
    return cx.emit("minimum", [cx.emit("maximum", [wrapped, cx.i64([0])]), n])


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


# --- gathering along a dim -------------------------------------------------------------------
@converts(torch.gather, aten.gather, methods=["gather"])
def gather_along(cx, x, dim, index, sparse_grad=False):
    """out[i][j][k] = x[i][index[i][j][k]][k] (dim 1): a take from the flattened x at the
    flat position of each index entry, the other coordinates being the entry's own."""
    rank = cx.rank(x)
    dim = int(dim) % rank
    flat, stride = None, 1
    for axis in reversed(range(rank)):
        coord = cx.cast(index, "i64") if axis == dim else _positions(cx, cx.dim(index, axis), axis, rank)
        term = coord if _is_one(stride) else cx.emit("mul", [coord, _as_i64(cx, stride)])
        flat = term if flat is None else cx.emit("add", [flat, term])
        stride = _times(cx, stride, cx.dim(x, axis))
    return cx.emit("gather", [cx.emit("reshape", [x, cx.i64([-1])]), flat], axis=0)


def _positions(cx, n, axis: int, rank: int) -> Value:
    """0..n-1 laid along `axis` of a rank-`rank` tensor (size 1 on the other axes)."""
    shape = [1] * rank
    shape[axis] = -1
    if isinstance(n, int):
        return cx.i64(np.arange(n).reshape(shape))
    positions = name_dim(cx.emit("range", [cx.i64(0), n, cx.i64(1)]), 0, symbol_of(n))
    return name_dims(cx.emit("reshape", [positions, cx.i64(shape)]), [n if d == -1 else d for d in shape])


def _is_one(size) -> bool:
    return isinstance(size, int) and size == 1


def _as_i64(cx, size) -> Value:
    return size if isinstance(size, Value) else cx.i64(size)


def _times(cx, a, b):
    if isinstance(a, int) and isinstance(b, int):
        return a * b
    return cx.emit("mul", [_as_i64(cx, a), _as_i64(cx, b)])
