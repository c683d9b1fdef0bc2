"""Shared type-inference helpers for op definitions."""
from __future__ import annotations

from ..errors import VerifyError
from ..types import TensorType, Type


def plain(t: Type) -> TensorType:
    """The float tensor type a (possibly quantized) value computes as."""
    if isinstance(t, TensorType):
        return t
    return TensorType(t.expressed, t.shape)


def same_as_first(types, attrs, consts):
    return [plain(types[0])]


def broadcast_shapes(*shapes):
    rank = max(len(s) for s in shapes)
    out = []
    for i in range(rank):
        dims = {s[i - rank + len(s)] for s in shapes if i - rank + len(s) >= 0}
        dims.discard(1)
        if len(dims) > 1:
            ints = {d for d in dims if isinstance(d, int)}
            if len(ints) > 1:
                raise VerifyError(f"shapes {' and '.join(str(list(s)) for s in shapes)} do not broadcast")
            dims = ints or {sorted(dims, key=str)[0]}
        out.append(dims.pop() if dims else 1)
    return tuple(out)


def broadcast(types, attrs, consts):
    present = [plain(t) for t in types if t is not None]
    return [TensorType(present[0].dtype, broadcast_shapes(*[t.shape for t in present]))]


def norm_axis(axis: int, rank: int, where: str = "") -> int:
    if not -rank <= axis < max(rank, 1):
        raise VerifyError(f"{where}axis {axis} is out of range for rank {rank}")
    return axis % rank if rank else 0
