"""Pooling: max/avg pools (1-D, 2-D; explicit pads, ceil mode, dilation for max),
global pools and adaptive average pooling (torch bin rule).

Windows are planned once (`spatial.plan_windows`) and both versions pad explicitly:
max pools with -inf, avg pools with zeros plus a mask that counts the elements torch
divides by (padding only with `count_include_pad`, never the ceil-mode overhang).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import VerifyError
from ..registry import Attr, op, torch_impl
from ..types import TensorType
from .infer import plain
from .spatial import WindowPlan, ints_attr, pads_attr, plan_windows, torch_pad_list, windows

_LAYOUT = {1: "[N, C, L]", 2: "[N, C, H, W]"}

_WINDOW_ATTRS = {
    "kernel": Attr("ints"),
    "stride": Attr("ints", None, doc="None = kernel (torch convention)"),
    "pad": Attr("ints", None, doc="ONNX order [x1_begin, x2_begin, x1_end, x2_end]; None = no padding"),
    "ceil_mode": Attr("bool", False),
}
MAX_POOL_ATTRS = {**_WINDOW_ATTRS, "dilation": Attr("ints", None)}
AVG_POOL_ATTRS = {**_WINDOW_ATTRS, "count_include_pad": Attr("bool", True)}


def _pool_plan(name: str, n: int, x_shape, kernel, stride, pad, dilation, ceil_mode) -> WindowPlan:
    if len(x_shape) != n + 2:
        raise VerifyError(f"{name}: input must have rank {n + 2} {_LAYOUT[n]}, got shape {list(x_shape)}")
    kernel = ints_attr(kernel, n, 1, "kernel", name, 1)
    stride = kernel if stride is None else ints_attr(stride, n, 1, "stride", name, 1)
    begin, end = pads_attr(pad, n, name)
    return plan_windows(x_shape[2:], kernel, stride, ints_attr(dilation, n, 1, "dilation", name, 1),
                        begin, end, name, ceil_mode)


def _pool_infer(name: str, n: int):
    def infer(types, attrs, consts):
        x = plain(types[0])
        plan = _pool_plan(name, n, x.shape, attrs["kernel"], attrs["stride"], attrs["pad"],
                          attrs.get("dilation"), attrs["ceil_mode"])
        return [TensorType(x.dtype, x.shape[:2] + plan.out)]

    return infer


def _pad_numpy(x, plan: WindowPlan, value):
    begin, end = plan.full_pads()
    return np.pad(x, [(0, 0), (0, 0)] + list(zip(begin, end)), constant_values=value)


def _counted_region(plan: WindowPlan, sizes, count_include_pad: bool) -> tuple:
    """Index of the elements an average divides by, inside the fully padded array."""
    if count_include_pad:
        return tuple(slice(0, b + s + e) for b, s, e in zip(plan.begin, sizes, plan.end))
    return tuple(slice(b, b + s) for b, s in zip(plan.begin, sizes))


def _crop(y, plan: WindowPlan):
    return y[(Ellipsis,) + tuple(slice(0, o) for o in plan.out)]


def _max_pool_reference(name, n, x, kernel, stride=None, pad=None, dilation=None, ceil_mode=False):
    plan = _pool_plan(name, n, x.shape, kernel, stride, pad, dilation, ceil_mode)
    return windows(_pad_numpy(x, plan, -np.inf), plan).max(axis=tuple(range(-n, 0)))


def _max_pool_torch(name, n, x, kernel, stride=None, pad=None, dilation=None, ceil_mode=False):
    plan = _pool_plan(name, n, tuple(x.shape), kernel, stride, pad, dilation, ceil_mode)
    xp = F.pad(x, torch_pad_list(*plan.full_pads()), value=float("-inf"))
    pool = F.max_pool1d if n == 1 else F.max_pool2d
    return _crop(pool(xp, plan.kernel, plan.stride, 0, plan.dilation), plan)


def _avg_pool_reference(name, n, x, kernel, stride=None, pad=None, ceil_mode=False, count_include_pad=True):
    plan = _pool_plan(name, n, x.shape, kernel, stride, pad, None, ceil_mode)
    axes = tuple(range(-n, 0))
    xp = _pad_numpy(x, plan, 0)
    mask = np.zeros((1, 1) + xp.shape[2:], x.dtype)
    mask[(Ellipsis,) + _counted_region(plan, x.shape[2:], count_include_pad)] = 1
    counts = windows(mask, plan).sum(axis=axes)
    return (windows(xp, plan).sum(axis=axes) / counts).astype(x.dtype, copy=False)


def _avg_pool_torch(name, n, x, kernel, stride=None, pad=None, ceil_mode=False, count_include_pad=True):
    plan = _pool_plan(name, n, tuple(x.shape), kernel, stride, pad, None, ceil_mode)
    xp = F.pad(x, torch_pad_list(*plan.full_pads()))
    mask = x.new_zeros((1, 1) + tuple(xp.shape[2:]))
    mask[(Ellipsis,) + _counted_region(plan, tuple(x.shape[2:]), count_include_pad)] = 1
    pool = F.avg_pool1d if n == 1 else F.avg_pool2d
    # both pools divide by the kernel size, which cancels in the ratio
    return _crop(pool(xp, plan.kernel, plan.stride, 0) / pool(mask, plan.kernel, plan.stride, 0), plan)


@op("max_pool1d", inputs=["x"], attrs=MAX_POOL_ATTRS, infer=_pool_infer("max_pool1d", 1))
def max_pool1d(x, **attrs):
    return _max_pool_reference("max_pool1d", 1, x, **attrs)


@torch_impl("max_pool1d")
def max_pool1d_torch(x, **attrs):
    return _max_pool_torch("max_pool1d", 1, x, **attrs)


@op("max_pool2d", inputs=["x"], attrs=MAX_POOL_ATTRS, infer=_pool_infer("max_pool2d", 2))
def max_pool2d(x, **attrs):
    return _max_pool_reference("max_pool2d", 2, x, **attrs)


@torch_impl("max_pool2d")
def max_pool2d_torch(x, **attrs):
    return _max_pool_torch("max_pool2d", 2, x, **attrs)


@op("avg_pool1d", inputs=["x"], attrs=AVG_POOL_ATTRS, infer=_pool_infer("avg_pool1d", 1))
def avg_pool1d(x, **attrs):
    return _avg_pool_reference("avg_pool1d", 1, x, **attrs)


@torch_impl("avg_pool1d")
def avg_pool1d_torch(x, **attrs):
    return _avg_pool_torch("avg_pool1d", 1, x, **attrs)


@op("avg_pool2d", inputs=["x"], attrs=AVG_POOL_ATTRS, infer=_pool_infer("avg_pool2d", 2))
def avg_pool2d(x, **attrs):
    return _avg_pool_reference("avg_pool2d", 2, x, **attrs)


@torch_impl("avg_pool2d")
def avg_pool2d_torch(x, **attrs):
    return _avg_pool_torch("avg_pool2d", 2, x, **attrs)


def _global_infer(name: str):
    def infer(types, attrs, consts):
        x = plain(types[0])
        if x.rank < 3:
            raise VerifyError(f"{name}: input must have rank >= 3 [N, C, *spatial], got shape {list(x.shape)}")
        return [TensorType(x.dtype, x.shape[:2] + (1,) * (x.rank - 2))]

    return infer


@op("global_avg_pool", inputs=["x"], infer=_global_infer("global_avg_pool"))
def global_avg_pool(x):
    return x.mean(axis=tuple(range(2, x.ndim)), keepdims=True)


@torch_impl("global_avg_pool")
def global_avg_pool_torch(x):
    return x.mean(dim=tuple(range(2, x.ndim)), keepdim=True)


@op("global_max_pool", inputs=["x"], infer=_global_infer("global_max_pool"))
def global_max_pool(x):
    return x.max(axis=tuple(range(2, x.ndim)), keepdims=True)


@torch_impl("global_max_pool")
def global_max_pool_torch(x):
    return torch.amax(x, dim=tuple(range(2, x.ndim)), keepdim=True)


def _adaptive_infer(types, attrs, consts):
    x = plain(types[0])
    if x.rank != 4:
        raise VerifyError(f"adaptive_avg_pool2d: input must have rank 4 [N, C, H, W], got shape {list(x.shape)}")
    out = ints_attr(attrs["output_size"], 2, 1, "output_size", "adaptive_avg_pool2d", 1)
    return [TensorType(x.dtype, x.shape[:2] + out)]


def _bin_matrix(size: int, out: int, dtype) -> np.ndarray:
    """Row i averages input bin [floor(i*size/out), ceil((i+1)*size/out)) (torch's rule)."""
    m = np.zeros((out, size), dtype)
    for i in range(out):
        start, end = (i * size) // out, -(-(i + 1) * size // out)
        m[i, start:end] = 1 / (end - start)
    return m


@op("adaptive_avg_pool2d", inputs=["x"], attrs={"output_size": Attr("ints")}, infer=_adaptive_infer)
def adaptive_avg_pool2d(x, output_size):
    oh, ow = ints_attr(output_size, 2, 1, "output_size", "adaptive_avg_pool2d", 1)
    rows, cols = _bin_matrix(x.shape[2], oh, x.dtype), _bin_matrix(x.shape[3], ow, x.dtype)
    # the bins are separable: average rows, then columns
    return np.einsum("ih,nchw,jw->ncij", rows, x, cols, optimize=True)


@torch_impl("adaptive_avg_pool2d")
def adaptive_avg_pool2d_torch(x, output_size):
    return F.adaptive_avg_pool2d(x, tuple(output_size))
