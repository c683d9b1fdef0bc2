"""Dims set to a symbolic size keep its symbol: arange(S) is [S], a reshape or expand to
[N, S, ...] starts [N, S], so a transformer's hidden stream stays [N, S, H] where IR
inference alone (shape operands computed at run time) would leave "?"."""
from __future__ import annotations

from typing import Optional

from ..ir.core import Value


def symbol_of(size) -> Optional[str]:
    """The symbol a size is, when it is one symbolic dim read by `shape` (else None)."""
    p = size.producer if isinstance(size, Value) else None
    if p is None or p.op != "shape" or p.attrs.get("end") != p.attrs.get("start", 0) + 1:
        return None
    d = p.inputs[0].type.shape[p.attrs.get("start", 0)]
    return d if isinstance(d, str) and d != "?" else None


def name_dim(v: Value, axis: int, symbol: Optional[str]) -> Value:
    """Give dim `axis` of v the symbol that the handler proves it has."""
    if symbol is not None:
        shape = list(v.type.shape)
        shape[axis] = symbol
        v.type = v.type.with_shape(shape)
    return v


def name_dims(v: Value, sizes) -> Value:
    """Name the dims of v (a reshape, expand or fill to `sizes`) set to a symbolic size."""
    for axis, size in enumerate(sizes):
        name_dim(v, axis, symbol_of(size))
    return v
