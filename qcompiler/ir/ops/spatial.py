"""Window geometry shared by convolutions and pools: normalizing stride/pad/dilation
attributes, output sizes (symbolic dims included) and numpy sliding windows.

Both the numpy references and the torch implementations plan their windows here, so
the two cannot disagree on sizes, padding or ceil-mode rules.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import VerifyError


def ints_attr(value, n: int, default: int, what: str, where: str, minimum: int) -> tuple:
    """A per-spatial-dim attribute: None means `default` everywhere; one entry per dim."""
    if value is None:
        return (default,) * n
    value = tuple(int(v) for v in value)
    if len(value) != n:
        raise VerifyError(f"{where}: '{what}' needs {n} entries (one per spatial dim), got {list(value)}")
    if any(v < minimum for v in value):
        raise VerifyError(f"{where}: '{what}' entries must be >= {minimum}, got {list(value)}")
    return value


def pads_attr(pad, n: int, where: str, what: str = "pad") -> tuple:
    """(begin, end) per spatial dim from an ONNX-order pad list ([x1_b, x2_b, x1_e, x2_e]).

    A list of n entries is accepted as symmetric padding (torch style)."""
    if pad is None:
        return (0,) * n, (0,) * n
    pad = tuple(int(p) for p in pad)
    if len(pad) == n:
        pad = pad + pad
    if len(pad) != 2 * n:
        raise VerifyError(f"{where}: '{what}' needs {2 * n} entries in ONNX order "
                          f"[x1_begin, ..., x1_end, ...] (or {n} symmetric ones), got {list(pad)}")
    if any(p < 0 for p in pad):
        raise VerifyError(f"{where}: '{what}' entries must be >= 0, got {list(pad)}")
    return pad[:n], pad[n:]


def torch_pad_list(begin, end) -> list:
    """ONNX-order begin/end pads -> the list F.pad wants (last dim first)."""
    out = []
    for b, e in zip(reversed(begin), reversed(end)):
        out += [int(b), int(e)]
    return out


@dataclass(frozen=True)
class WindowPlan:
    """Where windows of one sliding op fall, per spatial dim."""

    kernel: tuple
    stride: tuple
    dilation: tuple
    begin: tuple
    end: tuple
    out: tuple      # output sizes (ints, or symbols for symbolic input dims)
    extra: tuple    # padding past `end` that ceil-mode windows reach into (not counted as pad)

    @property
    def span(self) -> tuple:
        return tuple(d * (k - 1) + 1 for k, d in zip(self.kernel, self.dilation))

    def full_pads(self):
        """(begin, end + extra) pads that make every planned window lie inside the array."""
        return self.begin, tuple(e + x for e, x in zip(self.end, self.extra))


def plan_windows(sizes, kernel, stride, dilation, begin, end, where: str, ceil_mode: bool = False) -> WindowPlan:
    out, extra = [], []
    for axis, (size, k, s, d, b, e) in enumerate(zip(sizes, kernel, stride, dilation, begin, end)):
        span = d * (k - 1) + 1
        if isinstance(size, str):
            # a symbolic dim keeps its name only when the op maps it to itself
            out.append(size if s == 1 and b + e == span - 1 else f"{size}_out")
            extra.append(0)
            continue
        room = size + b + e - span
        if room < 0:
            raise VerifyError(f"{where}: window of extent {span} (kernel {k}, dilation {d}) is larger than "
                              f"spatial dim {axis} of size {size} padded to {size + b + e}")
        n = (math.ceil if ceil_mode else math.floor)(room / s) + 1
        if ceil_mode and (n - 1) * s >= size + b:
            n -= 1  # torch/ONNX rule: the last window must start inside the input or its begin pad
        out.append(n)
        extra.append(max(0, (n - 1) * s + span - (size + b + e)))
    return WindowPlan(tuple(kernel), tuple(stride), tuple(dilation), tuple(begin), tuple(end), tuple(out), tuple(extra))


def windows(xp: np.ndarray, plan: WindowPlan) -> np.ndarray:
    """Strided view [N, C, *out, *kernel] of an input already padded by `plan.full_pads()`."""
    n = len(plan.kernel)
    view = sliding_window_view(xp, plan.span, axis=tuple(range(2, 2 + n)))
    index = (slice(None), slice(None))
    index += tuple(slice(0, o * s, s) for o, s in zip(plan.out, plan.stride))
    index += tuple(slice(None, None, d) for d in plan.dilation)
    return view[index]
