"""Activations and (log-)softmax onto the catalog; their module forms are in fx_modules."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..ir.core import Value
from .fx_ops_math import binary
from .fx_table import aten, converts


def _simple(op: str):
    def handler(cx, x, inplace=False):
        return cx.emit(op, [x])

    return handler


for _op, _targets, _methods in [
    ("relu", (torch.relu, F.relu, aten.relu), ("relu", "relu_")),
    ("relu6", (F.relu6, aten.relu6), ()),
    ("sigmoid", (torch.sigmoid, F.sigmoid, aten.sigmoid), ("sigmoid", "sigmoid_")),
    ("tanh", (torch.tanh, F.tanh, aten.tanh), ("tanh", "tanh_")),
    ("silu", (F.silu, aten.silu), ()),
    ("hardswish", (F.hardswish, aten.hardswish), ()),
]:
    converts(*_targets, methods=list(_methods))(_simple(_op))


@converts(F.hardsigmoid, aten.hardsigmoid)
def hardsigmoid(cx, x, inplace=False):
    return cx.emit("hardsigmoid", [x], alpha=1 / 6, beta=0.5)


@converts(F.gelu, aten.gelu)
def gelu(cx, x, approximate="none"):
    return cx.emit("gelu", [x], approximate=approximate)


@converts(F.leaky_relu, aten.leaky_relu)
def leaky_relu(cx, x, negative_slope=0.01, inplace=False):
    return cx.emit("leaky_relu", [x], alpha=float(negative_slope))


@converts(F.elu)
def elu(cx, x, alpha=1.0, inplace=False):
    return cx.emit("elu", [x], alpha=float(alpha))


@converts(aten.elu)
def aten_elu(cx, x, alpha=1.0, scale=1.0, input_scale=1.0):
    if scale != 1 or input_scale != 1:
        raise cx.error("elu with scale/input_scale other than 1 is not supported")
    return elu(cx, x, alpha)


@converts(F.softplus, aten.softplus)
def softplus(cx, x, beta=1.0, threshold=20.0):
    # above `threshold` torch returns x itself; softplus differs from x there by < 2e-9
    if beta == 1:
        return cx.emit("softplus", [x])
    return binary(cx, "div", cx.emit("softplus", [binary(cx, "mul", x, beta)]), beta)


@converts(torch.clamp, torch.clip, aten.clamp, aten.clip, methods=["clamp", "clip", "clamp_", "clip_"])
def clamp(cx, x, min=None, max=None):
    if isinstance(min, Value) or isinstance(max, Value):
        if min is not None:
            x = binary(cx, "maximum", x, min)
        return x if max is None else binary(cx, "minimum", x, max)
    if min == 0 and max == 6:
        return cx.emit("relu6", [x])
    return cx.emit("clip", [x], min=None if min is None else float(min), max=None if max is None else float(max))


@converts(torch.clamp_min, aten.clamp_min, methods=["clamp_min"])
def clamp_min(cx, x, min):
    return clamp(cx, x, min=min)


@converts(torch.clamp_max, aten.clamp_max, methods=["clamp_max"])
def clamp_max(cx, x, max):
    return clamp(cx, x, max=max)


@converts(F.hardtanh, aten.hardtanh)
def hardtanh(cx, x, min_val=-1.0, max_val=1.0, inplace=False):
    return clamp(cx, x, min_val, max_val)


@converts(F.prelu, aten.prelu, aten._prelu_kernel)
def prelu(cx, x, weight):
    return cx.emit("prelu", [x, weight])


def _implicit_softmax_dim(rank: int) -> int:
    # torch's legacy rule when dim is not given
    return 0 if rank in (0, 1, 3) else 1


def _softmax(op: str):
    def functional(cx, x, dim=None, _stacklevel=3, dtype=None):
        return method(cx, x, dim, dtype)

    def method(cx, x, dim=None, dtype=None):
        dim = _implicit_softmax_dim(cx.rank(x)) if dim is None else dim
        return cx.emit(op, [cx.cast(x, cx.out_dtype())], axis=int(dim))

    def aten_private(cx, x, dim, half_to_float=False):
        return method(cx, x, dim)

    return functional, method, aten_private


for _op, _functional, _torch, _aten, _private in [
    ("softmax", F.softmax, torch.softmax, aten.softmax, aten._softmax),
    ("log_softmax", F.log_softmax, torch.log_softmax, aten.log_softmax, aten._log_softmax),
]:
    _f, _m, _p = _softmax(_op)
    converts(_functional)(_f)
    converts(_torch, _aten, methods=[_op])(_m)
    converts(_private)(_p)
