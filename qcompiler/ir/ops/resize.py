"""Spatial resampling and padding: resize (ONNX Resize, nearest / linear on NCHW) and pad.

Resize maps each output coordinate back to the input with ONNX's
coordinate_transformation_mode (`coord_mode`), computed in float32 as ONNX Runtime
does, so ties in `nearest_mode` round the same way. Which input pixels (and weights)
an output reads depends only on the shapes, so `_axis_plan` is shared by the numpy
reference and the torch version; the data path of each is its own.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import VerifyError
from ..registry import Attr, op, torch_impl
from ..types import TensorType
from .dtypes import is_float_dtype
from .infer import plain
from .shape_operands import UNKNOWN, shape_operand, to_ints

COORD_MODES = ("half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_half_pixel_for_nn")
NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")
_RESIZE_ATTRS = {
    "scales": Attr("floats", None),
    "mode": Attr("str", "nearest", choices=("nearest", "linear")),
    "coord_mode": Attr("str", "half_pixel", choices=COORD_MODES),
    "nearest_mode": Attr("str", "round_prefer_floor", choices=NEAREST_MODES),
}


def _spatial_scales(scales, where: str = "resize") -> list:
    scales = list(scales)
    if len(scales) == 4:
        if scales[:2] != [1, 1]:
            raise VerifyError(f"{where}: only H and W can be scaled, got scales {scales}")
        scales = scales[2:]
    if len(scales) != 2 or any(s <= 0 for s in scales):
        raise VerifyError(f"{where}: scales must be 2 (H, W) or 4 (N, C, H, W) positive numbers, got {scales}")
    return scales


def _spatial_sizes(sizes: list, nc: tuple, where: str = "resize") -> list:
    if len(sizes) == 4:
        if any(isinstance(d, int) and s != d for s, d in zip(sizes[:2], nc)):
            raise VerifyError(f"{where}: sizes {sizes} change N or C of an input with N, C = {list(nc)}")
        sizes = sizes[2:]
    if len(sizes) != 2 or any(s < 0 for s in sizes):
        raise VerifyError(f"{where}: sizes must give 2 (H, W) or 4 (N, C, H, W) non-negative dims, got {sizes}")
    return sizes


def _resize_type(types, attrs, consts):
    x = plain(types[0])
    if x.rank != 4:
        raise VerifyError(f"resize: expects a 4-D NCHW input, got shape {list(x.shape)}")
    has_sizes = len(types) > 1 and types[1] is not None
    if has_sizes == (attrs["scales"] is not None):
        raise VerifyError("resize: give exactly one of the `sizes` operand and the `scales` attribute")
    if attrs["mode"] == "linear" and not is_float_dtype(x.dtype):
        raise VerifyError(f"resize: linear mode needs a float input, got {x.dtype}")
    if has_sizes:
        sizes, n = shape_operand(types, consts, 1, "sizes operand", "resize")
        hw = (UNKNOWN, UNKNOWN) if sizes is None else _spatial_sizes(sizes, x.shape[:2])
        if sizes is None and n not in (2, 4):
            raise VerifyError(f"resize: sizes operand has {n} entries; expected 2 or 4")
    else:
        hw = [d if s == 1 else (math.floor(d * s) if isinstance(d, int) else UNKNOWN)
              for d, s in zip(x.shape[2:], _spatial_scales(attrs["scales"]))]
    return [TensorType(x.dtype, x.shape[:2] + tuple(hw))]


def _source_coords(out_len: int, in_len: int, scale: np.float32, coord_mode: str) -> np.ndarray:
    x = np.arange(out_len, dtype=np.float32)
    half = np.float32(0.5)
    if coord_mode == "half_pixel":
        return (x + half) / scale - half
    if coord_mode == "pytorch_half_pixel":
        return (x + half) / scale - half if out_len > 1 else np.zeros_like(x)
    if coord_mode == "align_corners":
        return x * np.float32(in_len - 1) / np.float32(out_len - 1) if out_len > 1 else np.zeros_like(x)
    if coord_mode == "asymmetric":
        return x / scale
    return (x + half) / scale  # tf_half_pixel_for_nn


_ROUNDING = {
    "round_prefer_floor": lambda c: np.ceil(c - np.float32(0.5)),
    "round_prefer_ceil": lambda c: np.floor(c + np.float32(0.5)),
    "floor": np.floor,
    "ceil": np.ceil,
}


def _axis_plan(in_len: int, out_len: int, scale, mode: str, coord_mode: str, nearest_mode: str):
    """(low index, high index, weight of high) per output position along one axis;
    nearest mode reads only the low index (weight 0)."""
    coords = _source_coords(out_len, in_len, np.float32(scale), coord_mode)
    if mode == "nearest":
        idx = np.clip(_ROUNDING[nearest_mode](coords), 0, in_len - 1).astype(np.int64)
        return idx, idx, np.zeros(out_len, np.float32)
    coords = np.clip(coords, 0, in_len - 1)
    lo = np.floor(coords).astype(np.int64)
    return lo, np.minimum(lo + 1, in_len - 1), (coords - lo).astype(np.float32)


def _plans(shape, sizes, scales, mode, coord_mode, nearest_mode):
    if sizes is not None:
        out_hw = _spatial_sizes(to_ints(sizes), tuple(shape[:2]))
        axis_scales = [np.float32(o) / np.float32(i) for o, i in zip(out_hw, shape[2:])]
    else:
        axis_scales = _spatial_scales(scales)
        out_hw = [math.floor(d * s) for d, s in zip(shape[2:], axis_scales)]
    return [_axis_plan(i, o, s, mode, coord_mode, nearest_mode) for i, o, s in zip(shape[2:], out_hw, axis_scales)]


@op("resize", inputs=["x", "sizes?"], attrs=_RESIZE_ATTRS, infer=_resize_type)
def resize(x, sizes=None, scales=None, mode="nearest", coord_mode="half_pixel", nearest_mode="round_prefer_floor"):
    """ONNX Resize of the H and W axes of an NCHW tensor."""
    for axis, (lo, hi, w) in zip((2, 3), _plans(x.shape, sizes, scales, mode, coord_mode, nearest_mode)):
        if mode == "nearest":
            x = np.take(x, lo, axis=axis)
        else:
            w = w.reshape((-1, 1) if axis == 2 else (-1,)).astype(x.dtype)
            x = np.take(x, lo, axis=axis) * (1 - w) + np.take(x, hi, axis=axis) * w
    return x


@torch_impl("resize")
def resize_torch(x, sizes=None, scales=None, mode="nearest", coord_mode="half_pixel", nearest_mode="round_prefer_floor"):
    for axis, (lo, hi, w) in zip((2, 3), _plans(tuple(x.shape), sizes, scales, mode, coord_mode, nearest_mode)):
        lo = torch.from_numpy(lo).to(x.device)
        if mode == "nearest":
            x = torch.index_select(x, axis, lo)
        else:
            w = torch.from_numpy(w).to(x.device, x.dtype).reshape((-1, 1) if axis == 2 else (-1,))
            hi = torch.from_numpy(hi).to(x.device)
            x = torch.lerp(torch.index_select(x, axis, lo), torch.index_select(x, axis, hi), w)
    return x


def _pad_type(types, attrs, consts):
    x = plain(types[0])
    pads, mode = list(attrs["pads"]), attrs["mode"]
    if len(pads) != 2 * x.rank:
        raise VerifyError(f"pad: pads {pads} needs {2 * x.rank} entries (begins then ends) for rank {x.rank}")
    dims = []
    for axis, (d, b, e) in enumerate(zip(x.shape, pads[:x.rank], pads[x.rank:])):
        if not isinstance(d, int):
            dims.append(d if b + e == 0 else UNKNOWN)
            continue
        if d + b + e < 0:
            raise VerifyError(f"pad: pads {b}, {e} crop more than the {d} elements of axis {axis}")
        if mode == "reflect" and (b or e) and max(b, e) >= d:
            raise VerifyError(f"pad: reflect pads {b}, {e} on axis {axis} must be smaller than its size {d}")
        if mode == "edge" and (b > 0 or e > 0) and d == 0:
            raise VerifyError(f"pad: edge padding of the empty axis {axis}")
        dims.append(d + b + e)
    return [TensorType(x.dtype, tuple(dims))]


@op("pad", inputs=["x"], infer=_pad_type, attrs={
    "pads": Attr("ints"), "mode": Attr("str", "constant", choices=("constant", "reflect", "edge")),
    "value": Attr("float", 0.0)})
def pad(x, pads, mode="constant", value=0.0):
    """ONNX Pad: pads = [x1_begin, x2_begin, ..., x1_end, ...]; negative pads crop."""
    r = x.ndim
    begin, end = pads[:r], pads[r:]
    extra = {"constant_values": np.asarray(value).astype(x.dtype)} if mode == "constant" else {}
    y = np.pad(x, [(max(b, 0), max(e, 0)) for b, e in zip(begin, end)], mode=mode, **extra)
    return y[tuple(slice(-min(b, 0), n + min(e, 0)) for n, b, e in zip(y.shape, begin, end))]


def _reflect(i: torch.Tensor, n: int) -> torch.Tensor:
    if n == 1:
        return torch.zeros_like(i)
    period = 2 * (n - 1)
    j = i.abs() % period
    return torch.where(j >= n, period - j, j)


@torch_impl("pad")
def pad_torch(x, pads, mode="constant", value=0.0):
    r = x.dim()
    begin, end = pads[:r], pads[r:]
    if mode == "constant":
        return F.pad(x, [p for b, e in reversed(list(zip(begin, end))) for p in (b, e)], value=value)
    # F.pad's reflect/replicate cover only the last 1-3 dims: index every padded axis instead
    for axis, (b, e) in enumerate(zip(begin, end)):
        if b or e:
            n = x.shape[axis]
            i = torch.arange(-b, n + e, device=x.device)
            x = torch.index_select(x, axis, i.clamp(0, n - 1) if mode == "edge" else _reflect(i, n))
    return x
