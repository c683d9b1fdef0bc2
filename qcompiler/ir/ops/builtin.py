"""Ops every graph may use regardless of frontend: constants and identity."""
from __future__ import annotations

from ..registry import Attr, op, torch_impl
from .infer import same_as_first


def _const_type(types, attrs, consts):
    from ..types import tensor_type_of

    return [tensor_type_of(attrs["value"].array)]


@op("const", inputs=[], attrs={"value": Attr("dense"), "origin": Attr("str", None)}, infer=_const_type)
def const(value, origin=None):
    """A constant tensor (weights, shapes, ...); `origin` names where it came from."""
    return value.array.copy()


@op("identity", inputs=["x"], infer=same_as_first)
def identity(x):
    return x


@torch_impl("identity")
def identity_torch(x):
    return x
