"""Reshaping, permuting, joining and splitting tensors onto the catalog."""
from __future__ import annotations

import torch

from ..ir.core import Value
from .fx_symbols import name_dims
from .fx_table import aten, converts


def _varargs(dims) -> list:
    """Method forms take sizes as varargs or as one sequence: x.view(2, -1) / x.view((2, -1))."""
    if len(dims) == 1 and isinstance(dims[0], (list, tuple, torch.Size)):
        return list(dims[0])
    return list(dims)


@converts(torch.reshape, aten.reshape, aten.view, aten._unsafe_view)
def reshape(cx, x, shape):
    dims = list(shape)
    # torch reads a 0 as an empty dim; ONNX-style reshape would copy the input dim
    if any(isinstance(d, int) and d == 0 for d in dims):
        return cx.emit("reshape", [x, cx.shape_operand(dims)], allowzero=True)
    # ... which is what x.view(x.size(0), -1) means: the shape stays a constant
    dims = [0 if _size_of(x, i, d) else d for i, d in enumerate(dims)]
    return name_dims(cx.emit("reshape", [x, cx.shape_operand(dims)]), dims)


def _size_of(x: Value, i: int, d) -> bool:
    """d is the symbolic size of dim i of x (from `shape(x)[i]`)."""
    p = d.producer if isinstance(d, Value) else None
    return (p is not None and p.op == "shape" and p.inputs[0] is x
            and p.attrs.get("start", 0) == i and p.attrs.get("end") == i + 1)


@converts(methods=["view", "reshape"])
def reshape_method(cx, x, *shape):
    return reshape(cx, x, _varargs(shape))


@converts(aten.view_as, aten.reshape_as, methods=["view_as", "reshape_as"])
def reshape_as(cx, x, other):
    return reshape(cx, x, cx.sizes(other))


@converts(torch.flatten, aten.flatten, methods=["flatten"])
def flatten(cx, x, start_dim=0, end_dim=-1):
    if cx.rank(x) == 0:
        return reshape(cx, x, [1])
    return cx.emit("flatten", [x], start_dim=int(start_dim), end_dim=int(end_dim))


@converts(torch.unflatten, aten.unflatten, methods=["unflatten"])
def unflatten(cx, x, dim, sizes):
    dim = int(dim) % cx.rank(x)
    # copy (0) the leading dims, so a symbolic batch needs no shape arithmetic
    trailing = [cx.dim(x, i) for i in range(dim + 1, cx.rank(x))]
    return cx.emit("reshape", [x, cx.shape_operand([0] * dim + list(sizes) + trailing)])


@converts(torch.permute, aten.permute)
def permute(cx, x, dims):
    return cx.emit("transpose", [x], perm=[int(d) % cx.rank(x) for d in dims])


@converts(methods=["permute"])
def permute_method(cx, x, *dims):
    return permute(cx, x, _varargs(dims))


@converts(torch.transpose, torch.swapaxes, aten.transpose, aten.swapaxes, methods=["transpose", "swapaxes"])
def transpose(cx, x, dim0, dim1):
    perm = list(range(cx.rank(x)))
    a, b = int(dim0) % len(perm), int(dim1) % len(perm)
    perm[a], perm[b] = perm[b], perm[a]
    return cx.emit("transpose", [x], perm=perm)


@converts(torch.t, aten.t, methods=["t"])
def t(cx, x):
    return x if cx.rank(x) < 2 else transpose(cx, x, 0, 1)


@converts(torch.unsqueeze, aten.unsqueeze, methods=["unsqueeze"])
def unsqueeze(cx, x, dim):
    return cx.emit("unsqueeze", [x], axes=[int(dim) % (cx.rank(x) + 1)])


@converts(torch.squeeze, aten.squeeze, methods=["squeeze"])
def squeeze(cx, x, dim=None):
    rank = cx.rank(x)
    dims = range(rank) if dim is None else ([dim] if isinstance(dim, int) else dim)
    # torch squeezes a requested dim only if it has size 1
    axes = sorted({int(d) % rank for d in dims if x.type.shape[int(d) % rank] == 1}) if rank else []
    return cx.emit("squeeze", [x], axes=axes) if axes else x


@converts(torch.cat, torch.concat, torch.concatenate, aten.cat, aten.concat, aten.concatenate)
def cat(cx, tensors, dim=0):
    if len(tensors) == 1:
        return tensors[0]
    dtype = cx.out_dtype()
    return cx.emit("concat", [cx.cast(v, dtype) for v in tensors], axis=int(dim))


@converts(torch.stack, aten.stack)
def stack(cx, tensors, dim=0):
    rank = cx.rank(tensors[0]) + 1
    return cx.emit("concat", [cx.emit("unsqueeze", [v], axes=[int(dim) % rank]) for v in tensors],
                   axis=int(dim) % rank)


def split_sizes(cx, x, sizes: list, dim: int) -> list:
    if len(sizes) == 1:
        return [x]
    return cx.emit("split", [x], axis=int(dim), sizes=[int(s) for s in sizes])


def _static_dim(cx, x, dim: int) -> int:
    n = x.type.shape[dim]
    if not isinstance(n, int):
        raise cx.error(f"cannot split along dim {dim} of symbolic size {n}")
    return n


@converts(torch.split, aten.split, aten.split_with_sizes, methods=["split", "split_with_sizes"])
def split(cx, x, split_size_or_sections, dim=0):
    if isinstance(split_size_or_sections, int):
        n, step = _static_dim(cx, x, dim), split_size_or_sections
        sizes = [min(step, n - i) for i in range(0, n, step)]
    else:
        sizes = list(split_size_or_sections)
    return split_sizes(cx, x, sizes, dim)


@converts(torch.chunk, aten.chunk, methods=["chunk"])
def chunk(cx, x, chunks, dim=0):
    n = _static_dim(cx, x, dim)
    step = -(-n // chunks)
    return split_sizes(cx, x, [min(step, n - i) for i in range(0, n, step)], dim)


@converts(torch.unbind, aten.unbind, methods=["unbind"])
def unbind(cx, x, dim=0):
    parts = split_sizes(cx, x, [1] * _static_dim(cx, x, dim), dim)
    return [cx.emit("squeeze", [p], axes=[int(dim) % cx.rank(x)]) for p in parts]


@converts(aten.expand)
def expand(cx, x, sizes):
    offset = len(sizes) - cx.rank(x)
    # torch's -1 keeps the input dim; broadcasting a 1 against it does the same
    dims = [1 if (isinstance(d, int) and d == -1) else d for d in sizes]
    if offset < 0 or any(isinstance(d, int) and d == -1 for d in sizes[:offset]):
        raise cx.error(f"cannot expand a rank-{cx.rank(x)} tensor to {list(sizes)}")
    return name_dims(cx.emit("expand", [x, cx.shape_operand(dims)]), dims)


@converts(methods=["expand"])
def expand_method(cx, x, *sizes):
    return expand(cx, x, _varargs(sizes))


@converts(aten.expand_as, methods=["expand_as"])
def expand_as(cx, x, other):
    return expand(cx, x, list(cx.sizes(other)))


@converts(aten.repeat)
def repeat(cx, x, repeats):
    repeats = list(repeats)  # ints, or i64[1] values for counts read from a dynamic dim
    extra = len(repeats) - cx.rank(x)
    if extra > 0:  # torch treats missing leading dims as size 1
        x = cx.emit("unsqueeze", [x], axes=list(range(extra)))
    return cx.emit("tile", [x, cx.shape_operand(repeats)])


@converts(methods=["repeat"])
def repeat_method(cx, x, *repeats):
    return repeat(cx, x, _varargs(repeats))
