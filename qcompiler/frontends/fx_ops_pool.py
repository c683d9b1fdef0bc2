"""Pooling and resizing (functional and ATen forms) onto the catalog."""
from __future__ import annotations

import torch.nn.functional as F

from .fx_ops_nn import spatial
from .fx_table import aten, converts


def _rank(cx, x) -> int:
    n = cx.rank(x) - 2
    if n not in (1, 2):
        raise cx.error(f"{n}-d pooling is not in the op catalog")
    return n


def _stride(stride, kernel: list, n: int) -> list:
    return list(kernel) if stride is None or (isinstance(stride, (list, tuple)) and not stride) else spatial(stride, n)


@converts(F.max_pool1d, F.max_pool2d, aten.max_pool1d, aten.max_pool2d)
def max_pool(cx, x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    if return_indices:
        raise cx.error("max pooling that returns indices is not supported")
    n = _rank(cx, x)
    kernel = spatial(kernel_size, n)
    pads = spatial(padding, n)
    return cx.emit(f"max_pool{n}d", [x], kernel=kernel, stride=_stride(stride, kernel, n), pad=pads + pads,
                   dilation=spatial(dilation, n), ceil_mode=bool(ceil_mode))


@converts(F.max_pool1d_with_indices, F.max_pool2d_with_indices, aten.max_pool1d_with_indices,
          aten.max_pool2d_with_indices)
def max_pool_with_indices(cx, x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                          return_indices=True):
    if any(u.args[1] != 0 and u.users for u in cx.node.users):
        raise cx.error("max pooling indices are not supported")
    return [max_pool(cx, x, kernel_size, stride, padding, dilation, ceil_mode), None]


@converts(F.avg_pool1d, F.avg_pool2d, aten.avg_pool1d, aten.avg_pool2d)
def avg_pool(cx, x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
             divisor_override=None):
    if divisor_override is not None:
        raise cx.error("avg pooling with divisor_override is not supported")
    n = _rank(cx, x)
    kernel = spatial(kernel_size, n)
    pads = spatial(padding, n)
    return cx.emit(f"avg_pool{n}d", [x], kernel=kernel, stride=_stride(stride, kernel, n), pad=pads + pads,
                   ceil_mode=bool(ceil_mode), count_include_pad=bool(count_include_pad))


def _output_size(cx, x, output_size, n: int) -> list:
    sizes = list(output_size) if isinstance(output_size, (list, tuple)) else [output_size] * n
    return [x.type.shape[2 + i] if s is None else int(s) for i, s in enumerate(sizes)]


@converts(F.adaptive_avg_pool2d, aten.adaptive_avg_pool2d, aten._adaptive_avg_pool2d)
def adaptive_avg_pool2d(cx, x, output_size):
    sizes = _output_size(cx, x, output_size, 2)
    if sizes == [1, 1]:
        return cx.emit("global_avg_pool", [x])
    return cx.emit("adaptive_avg_pool2d", [x], output_size=sizes)


@converts(F.adaptive_avg_pool1d, aten.adaptive_avg_pool1d)
def adaptive_avg_pool1d(cx, x, output_size):
    if _output_size(cx, x, output_size, 1) != [1]:
        raise cx.error("adaptive_avg_pool1d to a size other than 1 is not in the op catalog")
    return cx.emit("reduce_mean", [x], axes=[-1], keepdims=True)


@converts(F.adaptive_max_pool2d)
def adaptive_max_pool2d(cx, x, output_size, return_indices=False):
    if _output_size(cx, x, output_size, 2) != [1, 1] or return_indices:
        raise cx.error("adaptive_max_pool2d is only supported to size 1 without indices")
    return cx.emit("global_max_pool", [x])


def _spatial_floats(value) -> list:
    return list(value) * (2 if len(value) == 1 else 1) if isinstance(value, (list, tuple)) else [value, value]


@converts(aten.adaptive_max_pool2d)
def aten_adaptive_max_pool2d(cx, x, output_size):
    return [adaptive_max_pool2d(cx, x, output_size), None]


def _resize(cx, x, scale_factor, mode: str, align_corners) -> object:
    if cx.rank(x) != 4:
        raise cx.error("resize is only in the op catalog for 4-D NCHW tensors")
    sizes = None
    if scale_factor is None:
        scales, sizes = _recorded_scales_or_sizes(cx)
    else:
        scales = [float(s) for s in _spatial_floats(scale_factor)]
    inputs = [x, None if sizes is None else cx.i64(sizes)]
    scales = None if scales is None else [1.0, 1.0] + scales
    if mode == "nearest":
        return cx.emit("resize", inputs, scales=scales, mode="nearest", coord_mode="asymmetric", nearest_mode="floor")
    if mode == "bilinear":
        return cx.emit("resize", inputs, scales=scales, mode="linear",
                       coord_mode="align_corners" if align_corners else "half_pixel")
    raise cx.error(f"interpolation mode '{mode}' is not supported")


def _recorded_scales_or_sizes(cx) -> tuple:
    """(scales, None) or (None, [H, W]) of a resize torch only gave output sizes for,
    from its runs on the examples and with each dynamic dim doubled: fixed sizes where
    the output never changes, else the scales the output follows the input by."""
    source = cx.node.args[0]
    runs = [(source.meta["tensor_meta"].shape, cx.node.meta["tensor_meta"].shape)]
    runs += [(source.meta["qc_grown"][s].shape, m.shape) for s, m in cx.node.meta.get("qc_grown", {}).items()]
    (in_hw, out_hw) = [list(s[2:]) for s in runs[0]]
    if all(list(out[2:]) == out_hw for _, out in runs):
        return None, [int(d) for d in out_hw]
    scales = [o / i for o, i in zip(out_hw, in_hw)]
    if any(list(out[2:]) != [int(i * f) for i, f in zip(inp[2:], scales)] for inp, out in runs):
        raise cx.error(f"resize to sizes {[list(out[2:]) for _, out in runs]} from {[list(i[2:]) for i, _ in runs]}: "
                       "they neither stay fixed nor follow the dynamic input by fixed scales")
    return scales, None


@converts(F.interpolate)
def interpolate(cx, x, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    if antialias:
        raise cx.error("antialiased interpolation is not supported")
    return _resize(cx, x, None if recompute_scale_factor else scale_factor, mode, align_corners)


# the ATen overloads spell scales three different ways; the sizes torch computed say it all
@converts(aten.upsample_nearest2d)
def upsample_nearest2d(cx, x, output_size, *scales):
    return _resize(cx, x, None, "nearest", None)


@converts(aten.upsample_bilinear2d)
def upsample_bilinear2d(cx, x, output_size, align_corners, *scales):
    return _resize(cx, x, None, "bilinear", align_corners)
