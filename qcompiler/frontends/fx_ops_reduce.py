"""Reductions (sums, extremes, vector norms), running sums, arg-max/min, casts and the ops
that are no-ops for inference."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..ir.core import Value
from .fx_table import aten, converts


def _axes(dim):
    if dim is None or (isinstance(dim, (list, tuple)) and len(dim) == 0):
        return None  # all axes
    return [int(d) for d in dim] if isinstance(dim, (list, tuple)) else [int(dim)]


def _reduce(op: str):
    def handler(cx, x, dim=None, keepdim=False, dtype=None):
        return cx.emit(op, [cx.cast(x, cx.out_dtype())], axes=_axes(dim), keepdims=bool(keepdim))

    return handler


converts(torch.mean, aten.mean, methods=["mean"])(_reduce("reduce_mean"))
converts(torch.sum, aten.sum, methods=["sum"])(_reduce("reduce_sum"))
converts(torch.amax, aten.amax, methods=["amax"])(_reduce("reduce_max"))
converts(torch.amin, aten.amin, methods=["amin"])(_reduce("reduce_min"))


@converts(torch.linalg.vector_norm, aten.linalg_vector_norm)
def vector_norm(cx, x, ord=2, dim=None, keepdim=False, dtype=None):
    """(Σ|x|^ord)^(1/ord) over `dim` (all dims when None); ±inf: max/min of |x|."""
    dtype = cx.out_dtype()
    magnitude = cx.emit("abs", [cx.cast(x, dtype)])
    axes, keep = _axes(dim), bool(keepdim)
    if ord in (float("inf"), float("-inf")):
        return cx.emit("reduce_max" if ord > 0 else "reduce_min", [magnitude], axes=axes, keepdims=keep)
    if ord == 1:
        return cx.emit("reduce_sum", [magnitude], axes=axes, keepdims=keep)
    if ord == 2:
        return cx.emit("sqrt", [cx.emit("reduce_sum", [cx.emit("mul", [magnitude, magnitude])], axes=axes, keepdims=keep)])
    if not ord or not isinstance(ord, (int, float)):
        raise cx.error(f"vector norm of order {ord!r} is not supported")
    powered = cx.emit("pow", [magnitude, cx.scalar(ord, dtype)])
    return cx.emit("pow", [cx.emit("reduce_sum", [powered], axes=axes, keepdims=keep), cx.scalar(1.0 / ord, dtype)])


@converts(torch.norm, aten.norm, methods=["norm"])
def norm(cx, x, p="fro", dim=None, keepdim=False, out=None, dtype=None):
    if p == "fro":  # the 2-norm of the entries over `dim`
        p = 2
    if isinstance(p, str):
        raise cx.error(f"norm p={p!r} is not supported (vector norms only)")
    return vector_norm(cx, x, p, dim, keepdim)


@converts(F.normalize)
def normalize(cx, x, p=2.0, dim=1, eps=1e-12, out=None):
    """x / max(‖x‖_p, eps) along `dim`."""
    length = vector_norm(cx, x, p, dim, keepdim=True)
    return cx.emit("div", [x, cx.emit("maximum", [length, cx.scalar(eps, cx.dtype(length))])])


@converts(torch.cumsum, aten.cumsum, methods=["cumsum"])
def cumsum(cx, x, dim, dtype=None):
    return cx.emit("cumsum", [cx.cast(x, cx.out_dtype()), cx.i64(int(dim))])


def _extreme(reduce_op: str, pair_op: str, result_type):
    """torch.max/min: over everything, along a dim (values, indices), or of two tensors."""

    def handler(cx, x, dim=None, keepdim=False):
        if isinstance(dim, Value):
            return cx.emit(pair_op, [x, dim])
        values = cx.emit(reduce_op, [x], axes=_axes(dim), keepdims=bool(keepdim))
        if dim is None:
            return values
        indices = argmin(cx, x, dim, keepdim) if reduce_op == "reduce_min" else argmax(cx, x, dim, keepdim)
        return result_type((values, indices))  # supports both [1] and .indices

    return handler


converts(torch.max, aten.max, methods=["max"])(_extreme("reduce_max", "maximum", torch.return_types.max))
converts(torch.min, aten.min, methods=["min"])(_extreme("reduce_min", "minimum", torch.return_types.min))


@converts(torch.argmax, aten.argmax, methods=["argmax"])
def argmax(cx, x, dim=None, keepdim=False):
    if dim is None:  # over the flattened tensor
        flat = cx.emit("reshape", [x, cx.i64([-1])])
        out = cx.emit("argmax", [flat], axis=0, keepdims=False)
        return cx.emit("reshape", [out, cx.i64([1] * cx.rank(x))]) if keepdim else out
    return cx.emit("argmax", [x], axis=int(dim), keepdims=bool(keepdim))


@converts(torch.argmin, aten.argmin, methods=["argmin"])
def argmin(cx, x, dim=None, keepdim=False):
    # the first minimum of x is the first maximum of -x
    return argmax(cx, cx.emit("neg", [x]), dim, keepdim)


@converts(aten._to_copy, aten.to, aten.type_as, aten.clone, aten.alias, aten.detach, aten.lift_fresh_copy,
          aten.contiguous, torch.clone, torch.detach, F.dropout, F.dropout1d, F.dropout2d, F.alpha_dropout,
          aten.dropout, aten.alpha_dropout, aten.feature_dropout, aten.feature_alpha_dropout,
          methods=["to", "type", "type_as", "float", "double", "half", "int", "long", "bool", "contiguous",
                   "clone", "detach", "cpu", "dropout"])
def as_result_dtype(cx, x, *args, **kwargs):
    """Casts and copies: the result is x in the dtype torch computed (dropout: inference)."""
    return cx.cast(x, cx.out_dtype())
