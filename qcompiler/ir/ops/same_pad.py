"""same_pad: ONNX's auto_pad SAME_UPPER / SAME_LOWER padding computed from the run-time
size, for a strided window over a dynamic dim (where the pads depend on the size).

Per spatial dim of size n: out = ceil(n / stride), total = max((out - 1) * stride + span
- n, 0) with span = (kernel - 1) * dilation + 1; SAME_UPPER puts total // 2 before and
the rest after, SAME_LOWER the other way round. The window op that follows pads nothing.
A conv's padding is zeros (`mode=constant`); a max pool's must never win the max, and
replicating the border element (`mode=edge`) is exact where every window reading a pad
also reads the element it copies, i.e. without dilation (the importer checks that).
"""
from __future__ import annotations

import math

import numpy as np
import torch.nn.functional as F

from ..errors import VerifyError
from ..registry import Attr, op, torch_impl
from ..types import TensorType
from .infer import plain
from .spatial import ints_attr

ATTRS = {
    "kernel": Attr("ints"),
    "stride": Attr("ints"),
    "dilation": Attr("ints", None, doc="None = 1 per spatial dim"),
    "lower": Attr("bool", False, doc="SAME_LOWER: the larger half of an odd total goes first"),
    "mode": Attr("str", "constant", choices=("constant", "edge"), doc="zeros, or copies of the border element"),
}


def same_pads(sizes, kernel, stride, dilation, lower: bool) -> tuple:
    """(begin, end) per spatial dim for integer `sizes`."""
    begin, end = [], []
    for n, k, s, d in zip(sizes, kernel, stride, dilation):
        total = max((math.ceil(n / s) - 1) * s + (k - 1) * d + 1 - n, 0)
        small, big = total // 2, total - total // 2
        begin.append(big if lower else small)
        end.append(small if lower else big)
    return tuple(begin), tuple(end)


def depends_on_size(kernel: int, stride: int) -> bool:
    """Whether the total padding changes with the size (with size mod stride): for every
    strided window of more than one element."""
    return stride > 1 and kernel > 1


def window_geometry(rank: int, attrs: dict, where: str = "same_pad") -> tuple:
    kernel = attrs["kernel"]
    n = len(kernel)
    if rank != n + 2:
        raise VerifyError(f"{where}: a {n}-D window needs a rank-{n + 2} input [N, C, ...], got rank {rank}")
    return (ints_attr(kernel, n, 1, "kernel", where, 1), ints_attr(attrs["stride"], n, 1, "stride", where, 1),
            ints_attr(attrs.get("dilation"), n, 1, "dilation", where, 1))


def _padded_dim(size, k: int, s: int, d: int, lower: bool):
    if isinstance(size, int):
        begin, end = same_pads([size], [k], [s], [d], lower)
        return size + begin[0] + end[0]
    if k == 1:
        return size  # a one-element window pads nothing
    # a name of its own, the same for equal windows over one dim
    return f"{size}_same{k}s{s}" + (f"d{d}" if d != 1 else "")


def _infer(types, attrs, consts):
    x = plain(types[0])
    kernel, stride, dilation = window_geometry(x.rank, attrs)
    spatial = tuple(_padded_dim(n, k, s, d, attrs["lower"]) for n, k, s, d in zip(x.shape[2:], kernel, stride,
                                                                                   dilation))
    return [TensorType(x.dtype, x.shape[:2] + spatial)]


@op("same_pad", inputs=["x"], attrs=ATTRS, infer=_infer)
def same_pad(x, kernel, stride, dilation=None, lower=False, mode="constant"):
    """x padded on its spatial dims as ONNX auto_pad SAME_* pads it for this window."""
    kernel, stride, dilation = window_geometry(x.ndim, {"kernel": kernel, "stride": stride, "dilation": dilation})
    begin, end = same_pads(x.shape[2:], kernel, stride, dilation, lower)
    widths = [(0, 0), (0, 0)] + list(zip(begin, end))
    return np.pad(x, widths, mode="constant") if mode == "constant" else np.pad(x, widths, mode="edge")


@torch_impl("same_pad")
def same_pad_torch(x, kernel, stride, dilation=None, lower=False, mode="constant"):
    kernel, stride, dilation = window_geometry(x.dim(), {"kernel": kernel, "stride": stride, "dilation": dilation})
    begin, end = same_pads(tuple(x.shape[2:]), kernel, stride, dilation, lower)
    pads = [p for b, e in reversed(list(zip(begin, end))) for p in (b, e)]
    return F.pad(x, pads) if mode == "constant" else F.pad(x, pads, mode="replicate")
