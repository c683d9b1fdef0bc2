"""Ops that select or join parts of tensors: concat, split, slice, gather, embedding."""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import VerifyError
from ..registry import Attr, op, torch_impl
from ..types import TensorType
from .dtypes import np_promote, promote_types, require_int, torch_promote
from .infer import norm_axis, plain
from .shape_operands import UNKNOWN

_BIG = 2**31 - 1  # an end at or beyond this means "to the end", however long the dim


def _sum_dims(dims):
    nonzero = [d for d in dims if d != 0]
    if all(isinstance(d, int) for d in nonzero):
        return sum(nonzero)
    return nonzero[0] if len(nonzero) == 1 else UNKNOWN


def _same_dim(dims, axis: int, where: str):
    ints = {d for d in dims if isinstance(d, int)}
    if len(ints) > 1:
        raise VerifyError(f"{where}: inputs disagree on axis {axis}: {sorted(ints)}")
    if ints:
        return ints.pop()
    named = [d for d in dims if d != UNKNOWN]
    return named[0] if named else UNKNOWN


def _concat_type(types, attrs, consts):
    ts = [plain(t) for t in types]
    if not ts:
        raise VerifyError("concat: needs at least one input")
    if len({t.rank for t in ts}) != 1 or ts[0].rank == 0:
        raise VerifyError(f"concat: inputs need one common rank >= 1, got shapes {[list(t.shape) for t in ts]}")
    axis = norm_axis(attrs["axis"], ts[0].rank, "concat: ")
    dims = [_sum_dims(col) if i == axis else _same_dim(col, i, "concat")
            for i, col in enumerate(zip(*[t.shape for t in ts]))]
    return [TensorType(promote_types(ts, "concat"), tuple(dims))]


@op("concat", inputs=["*xs"], attrs={"axis": Attr("int")}, infer=_concat_type)
def concat(*xs, axis):
    """Join tensors along `axis` (dtypes promote like the elementwise ops)."""
    dt = np_promote(*xs)
    return np.concatenate([x.astype(dt, copy=False) for x in xs], axis=axis)


@torch_impl("concat")
def concat_torch(*xs, axis):
    dt = torch_promote(*xs)
    return torch.cat([x.to(dt) for x in xs], dim=axis)


def _split_type(types, attrs, consts):
    x = plain(types[0])
    axis = norm_axis(attrs["axis"], x.rank, "split: ")
    sizes = list(attrs["sizes"])
    if not sizes or any(s < 0 for s in sizes):
        raise VerifyError(f"split: sizes {sizes} must be a non-empty list of non-negative ints")
    if isinstance(x.shape[axis], int) and sum(sizes) != x.shape[axis]:
        raise VerifyError(f"split: sizes {sizes} add up to {sum(sizes)}, but axis {axis} has size {x.shape[axis]}")
    return [TensorType(x.dtype, x.shape[:axis] + (s,) + x.shape[axis + 1:]) for s in sizes]


@op("split", inputs=["x"], attrs={"axis": Attr("int", 0), "sizes": Attr("ints")}, infer=_split_type, num_outputs=-1)
def split(x, *, sizes, axis=0):
    """Cut x along `axis` into pieces of the given sizes: one result per size."""
    return tuple(np.split(x, np.cumsum(sizes)[:-1], axis=axis))


@torch_impl("split")
def split_torch(x, *, sizes, axis=0):
    return tuple(torch.split(x, list(sizes), dim=axis))


def _slice_plan(shape, attrs, where: str = "slice") -> list:
    """[(axis, start, end, step, length)] with ONNX clamping; start/end/length are None
    on symbolic dims (length is then the dim itself when the slice provably keeps all)."""
    starts, ends = list(attrs["starts"]), list(attrs["ends"])
    axes = list(attrs["axes"]) if attrs.get("axes") is not None else list(range(len(starts)))
    steps = list(attrs["steps"]) if attrs.get("steps") is not None else [1] * len(starts)
    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise VerifyError(f"{where}: starts, ends, axes and steps need equal lengths, got "
                          f"{len(starts)}, {len(ends)}, {len(axes)}, {len(steps)}")
    axes = [norm_axis(a, len(shape), f"{where}: ") for a in axes]
    if len(set(axes)) != len(axes):
        raise VerifyError(f"{where}: repeated axes {axes}")
    plan = []
    for axis, start, end, step in zip(axes, starts, ends, steps):
        if step == 0:
            raise VerifyError(f"{where}: step 0 on axis {axis}")
        dim = shape[axis]
        if not isinstance(dim, int):
            keeps_all = (step == 1 and start == 0 and end >= _BIG) or (step == -1 and (start == -1 or start >= _BIG) and end <= -_BIG)
            plan.append((axis, None, None, step, dim if keeps_all else UNKNOWN))
            continue
        start, end = start + dim if start < 0 else start, end + dim if end < 0 else end
        if step > 0:
            start, end = min(max(start, 0), dim), min(max(end, 0), dim)
        else:
            start, end = min(max(start, 0), dim - 1), min(max(end, -1), dim - 1)
        plan.append((axis, start, end, step, max(0, math.ceil((end - start) / step))))
    return plan


_SLICE_ATTRS = {"starts": Attr("ints"), "ends": Attr("ints"), "axes": Attr("ints", None), "steps": Attr("ints", None)}


def _slice_type(types, attrs, consts):
    x = plain(types[0])
    dims = list(x.shape)
    for axis, _, _, _, length in _slice_plan(x.shape, attrs):
        dims[axis] = length
    return [TensorType(x.dtype, tuple(dims))]


@op("slice", inputs=["x"], attrs=_SLICE_ATTRS, infer=_slice_type)
def slice_(x, starts, ends, axes=None, steps=None):
    """ONNX Slice: per-axis start/end/step, clamped to the dim; negative steps walk back."""
    index = [slice(None)] * x.ndim
    for axis, start, end, step, _ in _slice_plan(x.shape, dict(starts=starts, ends=ends, axes=axes, steps=steps)):
        index[axis] = slice(start, end if end >= 0 else None, step)
    return x[tuple(index)].copy()


@torch_impl("slice")
def slice_torch(x, starts, ends, axes=None, steps=None):
    for axis, start, end, step, length in _slice_plan(tuple(x.shape), dict(starts=starts, ends=ends, axes=axes, steps=steps)):
        if step > 0:
            x = x[(slice(None),) * axis + (slice(start, end, step),)]
        else:  # torch slicing has no negative steps: gather the walked-back indices
            x = torch.index_select(x, axis, start + step * torch.arange(length, device=x.device))
    return x


def _gather_type(types, attrs, consts):
    x, idx = plain(types[0]), plain(types[1])
    require_int(idx, "indices", "gather")
    if x.rank == 0:
        raise VerifyError("gather: cannot gather from a scalar")
    axis = norm_axis(attrs["axis"], x.rank, "gather: ")
    dim = x.shape[axis]
    if consts[1] is not None and isinstance(dim, int) and consts[1].size:
        lo, hi = int(consts[1].min()), int(consts[1].max())
        if lo < -dim or hi >= dim:
            raise VerifyError(f"gather: indices in [{lo}, {hi}] are out of range for axis {axis} of size {dim}")
    return [TensorType(x.dtype, x.shape[:axis] + idx.shape + x.shape[axis + 1:])]


@op("gather", inputs=["x", "indices"], attrs={"axis": Attr("int", 0)}, infer=_gather_type)
def gather(x, indices, axis=0):
    """numpy take along `axis`; negative indices count from the end."""
    return np.take(x, indices, axis=axis)


@torch_impl("gather")
def gather_torch(x, indices, axis=0):
    axis = axis % x.dim()
    idx = indices.long()
    idx = torch.where(idx < 0, idx + x.shape[axis], idx)
    out = torch.index_select(x, axis, idx.reshape(-1))
    return out.reshape(x.shape[:axis] + idx.shape + x.shape[axis + 1:])


def _embedding_type(types, attrs, consts):
    idx, w = plain(types[0]), plain(types[1])
    require_int(idx, "indices", "embedding")
    if w.rank != 2:
        raise VerifyError(f"embedding: weight must be 2-D [num, dim], got shape {list(w.shape)}")
    return [TensorType(w.dtype, idx.shape + w.shape[1:])]


@op("embedding", inputs=["indices", "weight"], infer=_embedding_type)
def embedding(indices, weight):
    """torch F.embedding: rows of `weight` picked by `indices`."""
    return weight[indices]


@torch_impl("embedding")
def embedding_torch(indices, weight):
    return F.embedding(indices.long(), weight)
