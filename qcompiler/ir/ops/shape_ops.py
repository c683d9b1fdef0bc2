"""Ops that rearrange a tensor's shape: reshape, flatten, transpose, squeeze, unsqueeze,
expand, tile.

Shape-like operands are i64 tensors. Inference is exact when they are constants and
falls back to fresh "?" dims of the right rank when they are computed at run time;
symbolic input dims ("N") flow through wherever the output dim provably equals them.
"""
from __future__ import annotations

from collections import Counter

import numpy as np
import torch

from ..errors import VerifyError
from ..registry import Attr, op, torch_impl
from ..types import TensorType
from .infer import broadcast_shapes, norm_axis, plain
from .shape_operands import UNKNOWN, shape_operand, to_ints


def _product(dims) -> tuple[int, Counter]:
    """A product of dims as (integer factor, multiset of symbolic factors)."""
    known, symbols = 1, Counter()
    for d in dims:
        if isinstance(d, int):
            known *= d
        else:
            symbols[d] += 1
    return known, symbols


def _single_dim(dims):
    """The product of `dims` as one dim: an int, the symbol itself, or '?'."""
    known, symbols = _product(dims)
    if not symbols:
        return known
    if known == 1 and sum(symbols.values()) == 1:
        return next(iter(symbols))
    return 0 if known == 0 else UNKNOWN


def _quotient(in_known: int, in_symbols: Counter, out_known: int, out_symbols: Counter):
    """The dim a -1 stands for when symbols are involved: exact when the output's
    symbols cancel against the input's ("?" never cancels: each is a different dim)."""
    if out_symbols - in_symbols or UNKNOWN in in_symbols or out_known == 0:
        return UNKNOWN
    left = in_symbols - out_symbols
    if not left and in_known % out_known == 0:
        return in_known // out_known
    if sum(left.values()) == 1 and in_known == out_known:
        return next(iter(left))
    return UNKNOWN


def reshape_dims(in_shape, target, allowzero: bool, where: str = "reshape") -> list:
    """ONNX Reshape of a (possibly symbolic) shape to `target`: 0 copies the input dim
    (unless allowzero), -1 takes what is left."""
    out, infer_at = [], None
    for i, d in enumerate(target):
        if d == 0 and not allowzero:
            if i >= len(in_shape):
                raise VerifyError(f"{where}: target entry {i} is 0 (copy) but the input has rank {len(in_shape)}")
            out.append(in_shape[i])
        elif d == -1:
            if infer_at is not None:
                raise VerifyError(f"{where}: target shape {list(target)} has more than one -1")
            infer_at = i
            out.append(None)
        elif d < 0:
            raise VerifyError(f"{where}: invalid target dim {d} in {list(target)}")
        else:
            out.append(d)
    if allowzero and infer_at is not None and 0 in target:
        raise VerifyError(f"{where}: target {list(target)} has both -1 and 0 with allowzero")
    in_known, in_symbols = _product(in_shape)
    out_known, out_symbols = _product([d for d in out if d is not None])
    static = not in_symbols and not out_symbols
    if infer_at is not None:
        if static:
            if out_known == 0 or in_known % out_known:
                raise VerifyError(f"{where}: cannot reshape {list(in_shape)} into {list(target)}")
            out[infer_at] = in_known // out_known
        else:
            out[infer_at] = _quotient(in_known, in_symbols, out_known, out_symbols)
    elif static and in_known != out_known:
        raise VerifyError(f"{where}: cannot reshape {list(in_shape)} ({in_known} elements) into {list(target)}")
    return out


def _reshape_type(types, attrs, consts):
    x = plain(types[0])
    target, n = shape_operand(types, consts, 1, "shape operand", "reshape")
    if target is None:
        return [TensorType(x.dtype, (UNKNOWN,) * n)]
    return [TensorType(x.dtype, reshape_dims(x.shape, target, attrs["allowzero"]))]


@op("reshape", inputs=["x", "shape"], attrs={"allowzero": Attr("bool", False)}, infer=_reshape_type)
def reshape(x, shape, allowzero=False):
    """ONNX Reshape: -1 infers one dim, 0 copies the input dim unless allowzero."""
    return np.reshape(x, reshape_dims(x.shape, to_ints(shape), allowzero))


@torch_impl("reshape")
def reshape_torch(x, shape, allowzero=False):
    return x.reshape(reshape_dims(tuple(x.shape), to_ints(shape), allowzero))


def _flatten_range(rank: int, start_dim: int, end_dim: int) -> tuple[int, int]:
    if rank == 0:
        return 0, -1
    s, e = norm_axis(start_dim, rank, "flatten: "), norm_axis(end_dim, rank, "flatten: ")
    if s > e:
        raise VerifyError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for rank {rank}")
    return s, e


def _flatten_type(types, attrs, consts):
    x = plain(types[0])
    s, e = _flatten_range(x.rank, attrs["start_dim"], attrs["end_dim"])
    return [TensorType(x.dtype, x.shape[:s] + (_single_dim(x.shape[s:e + 1]),) + x.shape[e + 1:])]


@op("flatten", inputs=["x"], attrs={"start_dim": Attr("int", 1), "end_dim": Attr("int", -1)}, infer=_flatten_type)
def flatten(x, start_dim=1, end_dim=-1):
    """torch.flatten: merges dims start_dim..end_dim (a scalar becomes [1])."""
    s, e = _flatten_range(x.ndim, start_dim, end_dim)
    return x.reshape(x.shape[:s] + (-1,) + x.shape[e + 1:])


@torch_impl("flatten")
def flatten_torch(x, start_dim=1, end_dim=-1):
    return x.reshape(1) if x.dim() == 0 else torch.flatten(x, start_dim, end_dim)


def _norm_axes(axes, rank: int, where: str) -> list:
    out = [norm_axis(a, rank, f"{where}: ") for a in axes]
    if len(set(out)) != len(out):
        raise VerifyError(f"{where}: repeated axes in {list(axes)}")
    return out


def _transpose_type(types, attrs, consts):
    x = plain(types[0])
    perm = _norm_axes(attrs["perm"], x.rank, "transpose")
    if len(perm) != x.rank:
        raise VerifyError(f"transpose: perm {list(attrs['perm'])} is not a permutation of {x.rank} axes")
    return [TensorType(x.dtype, tuple(x.shape[p] for p in perm))]


@op("transpose", inputs=["x"], attrs={"perm": Attr("ints")}, infer=_transpose_type)
def transpose(x, perm):
    """Permute axes: result axis i is input axis perm[i]."""
    return np.transpose(x, perm)


@torch_impl("transpose")
def transpose_torch(x, perm):
    return x.permute(*perm)


def _squeeze_type(types, attrs, consts):
    x = plain(types[0])
    axes = _norm_axes(attrs["axes"], x.rank, "squeeze")
    for a in axes:
        if x.shape[a] != 1 and isinstance(x.shape[a], int):
            raise VerifyError(f"squeeze: axis {a} has size {x.shape[a]}, not 1")
    return [TensorType(x.dtype, tuple(d for i, d in enumerate(x.shape) if i not in axes))]


@op("squeeze", inputs=["x"], attrs={"axes": Attr("ints")}, infer=_squeeze_type)
def squeeze(x, axes):
    """Drop the listed size-1 axes."""
    return np.squeeze(x, axis=tuple(axes))


@torch_impl("squeeze")
def squeeze_torch(x, axes):
    return x.squeeze(tuple(axes)) if axes else x


def _unsqueeze_type(types, attrs, consts):
    x = plain(types[0])
    rank = x.rank + len(attrs["axes"])
    axes = _norm_axes(attrs["axes"], rank, "unsqueeze")
    dims = iter(x.shape)
    return [TensorType(x.dtype, tuple(1 if i in axes else next(dims) for i in range(rank)))]


@op("unsqueeze", inputs=["x"], attrs={"axes": Attr("ints")}, infer=_unsqueeze_type)
def unsqueeze(x, axes):
    """Insert size-1 axes; `axes` index the output."""
    return np.expand_dims(x, tuple(axes))


@torch_impl("unsqueeze")
def unsqueeze_torch(x, axes):
    rank = x.dim() + len(axes)
    for a in sorted(a % rank for a in axes):
        x = x.unsqueeze(a)
    return x


def _expand_type(types, attrs, consts):
    x = plain(types[0])
    target, n = shape_operand(types, consts, 1, "shape operand", "expand")
    if target is not None:
        if any(d < 0 for d in target):
            raise VerifyError(f"expand: negative dims in target shape {target} (ONNX Expand has no -1)")
        return [TensorType(x.dtype, broadcast_shapes(x.shape, tuple(target)))]
    # a dim of x other than 1 survives any legal target; the rest is decided at run time
    rank = max(x.rank, n)
    padded = (1,) * (rank - x.rank) + x.shape
    return [TensorType(x.dtype, tuple(UNKNOWN if d == 1 else d for d in padded))]


@op("expand", inputs=["x", "shape"], infer=_expand_type)
def expand(x, shape):
    """ONNX Expand: broadcast x and `shape` against each other."""
    return np.broadcast_to(x, np.broadcast_shapes(x.shape, tuple(to_ints(shape)))).copy()


@torch_impl("expand")
def expand_torch(x, shape):
    return x.expand(torch.broadcast_shapes(x.shape, tuple(to_ints(shape))))


def _tile_type(types, attrs, consts):
    x = plain(types[0])
    repeats, n = shape_operand(types, consts, 1, "repeats", "tile")
    if n != x.rank:
        raise VerifyError(f"tile: repeats has {n} entries for an input of rank {x.rank}")
    if repeats is None:
        return [TensorType(x.dtype, (UNKNOWN,) * n)]
    if any(r < 0 for r in repeats):
        raise VerifyError(f"tile: negative repeats {repeats}")
    return [TensorType(x.dtype, tuple(_single_dim([d, r]) if r != 1 else d for d, r in zip(x.shape, repeats)))]


@op("tile", inputs=["x", "repeats"], infer=_tile_type)
def tile(x, repeats):
    """ONNX Tile: repeat x `repeats[i]` times along axis i."""
    return np.tile(x, to_ints(repeats))


@torch_impl("tile")
def tile_torch(x, repeats):
    return x.repeat(*to_ints(repeats))
