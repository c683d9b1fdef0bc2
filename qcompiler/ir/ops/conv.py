"""Convolutions: conv1d, conv2d (grouped, dilated, explicit pads, padding modes) and
conv_transpose2d, with fused activations.

The numpy references are sliding-window views turned into columns for one matrix
product per sample and group (depthwise convolutions sum shifted inputs instead); a transposed
convolution is the stride-1 correlation of the zero-upsampled input with the flipped
kernel. The torch versions call torch.nn.functional.
"""
from __future__ import annotations

import numpy as np
import torch.nn.functional as F

from ..errors import VerifyError
from ..registry import Attr, op, torch_impl
from ..types import TensorType
from .fused import FUSED_ACTIVATION_ATTRS, apply_fused_activation, check_fused_activation
from .infer import plain
from .spatial import WindowPlan, ints_attr, pads_attr, plan_windows, torch_pad_list, windows

_NUMPY_PAD_MODE = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}
_TORCH_PAD_MODE = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate", "circular": "circular"}
_LAYOUT = {1: "[N, C, L]", 2: "[N, C, H, W]"}
_SPATIAL_DIMS = {"conv1d": 1, "conv2d": 2}

CONV_ATTRS = {
    "stride": Attr("ints", None, doc="one per spatial dim; None = all 1"),
    "pad": Attr("ints", None, doc="ONNX order [x1_begin, x2_begin, x1_end, x2_end]; None = no padding"),
    "dilation": Attr("ints", None, doc="one per spatial dim; None = all 1"),
    "groups": Attr("int", 1),
    "pad_mode": Attr("str", "zeros", choices=tuple(_NUMPY_PAD_MODE)),
    **FUSED_ACTIVATION_ATTRS,
}
CONV_TRANSPOSE_ATTRS = {
    "stride": Attr("ints", None), "pad": Attr("ints", None), "output_padding": Attr("ints", None),
    "dilation": Attr("ints", None), "groups": Attr("int", 1), **FUSED_ACTIVATION_ATTRS,
}


def _known(*dims) -> bool:
    return all(isinstance(d, int) for d in dims)


def _check_operands(name: str, n: int, x_shape, w_shape, b_shape, groups: int, w_layout: str) -> tuple:
    """Ranks, groups and a static kernel; returns the kernel size."""
    if len(x_shape) != n + 2:
        raise VerifyError(f"{name}: input must have rank {n + 2} {_LAYOUT[n]}, got shape {list(x_shape)}")
    if len(w_shape) != n + 2:
        raise VerifyError(f"{name}: weight must have rank {n + 2} {w_layout}, got shape {list(w_shape)}")
    if groups < 1:
        raise VerifyError(f"{name}: groups must be >= 1, got {groups}")
    kernel = tuple(w_shape[2:])
    if not _known(*kernel):
        raise VerifyError(f"{name}: kernel size must be static, got weight shape {list(w_shape)}")
    if b_shape is not None and len(b_shape) != 1:
        raise VerifyError(f"{name}: bias must be 1-D [out_channels], got shape {list(b_shape)}")
    return kernel


def _conv_plan(name: str, x_shape, w_shape, b_shape, stride, pad, dilation, groups, pad_mode) -> WindowPlan:
    n = _SPATIAL_DIMS[name]
    kernel = _check_operands(name, n, x_shape, w_shape, b_shape, groups, "[C_out, C_in/groups, *kernel]")
    cin, cout, cin_per_group = x_shape[1], w_shape[0], w_shape[1]
    if _known(cin, cin_per_group) and cin != cin_per_group * groups:
        raise VerifyError(f"{name}: input has {cin} channels but the weight expects {cin_per_group * groups} "
                          f"(weight shape {list(w_shape)}: {cin_per_group} per group x groups={groups})")
    if _known(cout) and cout % groups:
        raise VerifyError(f"{name}: {cout} output channels are not divisible by groups={groups}")
    if b_shape is not None and _known(b_shape[0], cout) and b_shape[0] != cout:
        raise VerifyError(f"{name}: bias has {b_shape[0]} entries but the weight has {cout} output channels")
    begin, end = pads_attr(pad, n, name)
    sizes = x_shape[2:]
    if pad_mode in ("reflect", "circular"):
        for size, b, e in zip(sizes, begin, end):
            limit = size - 1 if pad_mode == "reflect" else size
            if _known(size) and max(b, e) > limit:
                raise VerifyError(f"{name}: {pad_mode} padding {max(b, e)} is too large for a spatial dim of size {size}")
    return plan_windows(sizes, kernel, ints_attr(stride, n, 1, "stride", name, 1),
                        ints_attr(dilation, n, 1, "dilation", name, 1), begin, end, name)


def _conv_infer(name: str):
    def infer(types, attrs, consts):
        x, w = plain(types[0]), plain(types[1])
        b = plain(types[2]).shape if len(types) > 2 and types[2] is not None else None
        check_fused_activation(attrs, name)
        plan = _conv_plan(name, x.shape, w.shape, b, attrs["stride"], attrs["pad"], attrs["dilation"],
                          attrs["groups"], attrs["pad_mode"])
        return [TensorType(x.dtype, (x.shape[0], w.shape[0]) + plan.out)]

    return infer


def _add_bias(y, b):
    return y if b is None else y + b.reshape((-1,) + (1,) * (y.ndim - 2))


def _correlate(xp: np.ndarray, w: np.ndarray, plan: WindowPlan, groups: int) -> np.ndarray:
    """Grouped cross-correlation of an input already padded by the plan."""
    win = windows(xp, plan)  # [N, C, *out, *kernel]
    if w.shape[1] == 1:
        return _depthwise(win, w, plan, groups)
    n, batch, channels = len(plan.kernel), xp.shape[0], xp.shape[1]
    # im2col per sample as [groups, C/groups·kernel, out] (a view for a 1x1 kernel with
    # stride 1), so the columns of one sample are in memory at a time and each product
    # w[g] @ cols[g] lands in [C_out, *out] order without a transpose
    win = win.reshape(batch, groups, channels // groups, *win.shape[2:])
    order = (0, 1) + tuple(range(2 + n, 2 + 2 * n)) + tuple(range(2, 2 + n))
    wg = w.reshape(groups, w.shape[0] // groups, -1)
    y = np.empty((batch, groups, wg.shape[1], int(np.prod(plan.out, dtype=np.int64))), np.result_type(xp, w))
    for i in range(batch):
        cols = win[i].transpose(order).reshape(groups, wg.shape[2], -1)
        for g in range(groups):  # 2-D products run as BLAS gemm; stacked or broadcast ones may not
            np.matmul(wg[g], cols[g], out=y[i, g])
    return y.reshape(batch, w.shape[0], *plan.out)


def _depthwise(win: np.ndarray, w: np.ndarray, plan: WindowPlan, groups: int) -> np.ndarray:
    """One input channel per group: a sum over kernel taps of shifted inputs times one
    weight per channel (a matrix product per channel would be a long run of tiny ones)."""
    n, batch = len(plan.kernel), win.shape[0]
    per_group = w.shape[0] // groups
    taps = w.reshape(groups, per_group, -1, *(1,) * n)  # [g, f, kernel taps, 1...]
    y = np.empty((batch, groups, per_group, *plan.out), np.result_type(win, w))
    term = np.empty(y.shape[1:], y.dtype)
    for i in range(batch):  # a sample at a time, so its planes stay in cache across the taps
        for k, tap in enumerate(np.ndindex(*plan.kernel)):
            shifted = win[i][(Ellipsis,) + tap][:, None]  # [g, 1, *out]
            np.multiply(shifted, taps[:, :, k], out=y[i] if k == 0 else term)
            if k:
                y[i] += term
    return y.reshape(batch, w.shape[0], *plan.out)


def _conv_reference(name, x, w, b, *, stride=None, pad=None, dilation=None, groups=1, pad_mode="zeros", **fused):
    plan = _conv_plan(name, x.shape, w.shape, None if b is None else b.shape, stride, pad, dilation, groups, pad_mode)
    xp = np.pad(x, [(0, 0), (0, 0)] + list(zip(plan.begin, plan.end)), mode=_NUMPY_PAD_MODE[pad_mode])
    y = _add_bias(_correlate(xp, w, plan, groups), b).astype(x.dtype, copy=False)
    return apply_fused_activation(y, use_torch=False, **fused)


def _conv_torch(name, x, w, b, *, stride=None, pad=None, dilation=None, groups=1, pad_mode="zeros", **fused):
    plan = _conv_plan(name, tuple(x.shape), tuple(w.shape), None if b is None else tuple(b.shape),
                      stride, pad, dilation, groups, pad_mode)
    conv = F.conv1d if name == "conv1d" else F.conv2d
    if pad_mode == "zeros" and plan.begin == plan.end:
        y = conv(x, w, b, plan.stride, plan.begin, plan.dilation, groups)
    else:
        xp = F.pad(x, torch_pad_list(plan.begin, plan.end), mode=_TORCH_PAD_MODE[pad_mode])
        y = conv(xp, w, b, plan.stride, 0, plan.dilation, groups)
    return apply_fused_activation(y, use_torch=True, **fused)


@op("conv1d", inputs=["x", "w", "b?"], attrs=CONV_ATTRS, infer=_conv_infer("conv1d"))
def conv1d(x, w, b=None, **attrs):
    return _conv_reference("conv1d", x, w, b, **attrs)


@torch_impl("conv1d")
def conv1d_torch(x, w, b=None, **attrs):
    return _conv_torch("conv1d", x, w, b, **attrs)


@op("conv2d", inputs=["x", "w", "b?"], attrs=CONV_ATTRS, infer=_conv_infer("conv2d"))
def conv2d(x, w, b=None, **attrs):
    return _conv_reference("conv2d", x, w, b, **attrs)


@torch_impl("conv2d")
def conv2d_torch(x, w, b=None, **attrs):
    return _conv_torch("conv2d", x, w, b, **attrs)


def _transpose_geometry(x_shape, w_shape, b_shape, stride, pad, output_padding, dilation, groups):
    """Validated (stride, begin, end, output_padding, dilation, kernel, out sizes)."""
    name, n = "conv_transpose2d", 2
    kernel = _check_operands(name, n, x_shape, w_shape, b_shape, groups, "[C_in, C_out/groups, kh, kw]")
    cin = w_shape[0]
    cout = w_shape[1] * groups if _known(w_shape[1]) else w_shape[1]
    if _known(x_shape[1], cin) and x_shape[1] != cin:
        raise VerifyError(f"{name}: input has {x_shape[1]} channels but the weight expects {cin} "
                          f"(weight shape {list(w_shape)} is [C_in, C_out/groups, kh, kw])")
    if _known(cin) and cin % groups:
        raise VerifyError(f"{name}: {cin} input channels are not divisible by groups={groups}")
    if b_shape is not None and _known(b_shape[0], cout) and b_shape[0] != cout:
        raise VerifyError(f"{name}: bias has {b_shape[0]} entries but there are {cout} output channels")
    stride = ints_attr(stride, n, 1, "stride", name, 1)
    dilation = ints_attr(dilation, n, 1, "dilation", name, 1)
    out_pad = ints_attr(output_padding, n, 0, "output_padding", name, 0)
    begin, end = pads_attr(pad, n, name)
    out = []
    for size, k, s, d, b, e, op_ in zip(x_shape[2:], kernel, stride, dilation, begin, end, out_pad):
        if op_ >= max(s, d):
            raise VerifyError(f"{name}: output_padding {op_} must be smaller than stride {s} or dilation {d}")
        grow = d * (k - 1) - b - e + op_
        if not _known(size):
            out.append(size if s == 1 and grow == 0 else f"{size}_out")
            continue
        out.append((size - 1) * s + grow + 1)
        if out[-1] < 1:
            raise VerifyError(f"{name}: pad {b}+{e} leaves no output for a spatial dim of size {size}")
    return stride, begin, end, out_pad, dilation, kernel, (x_shape[0], cout) + tuple(out)


def _conv_transpose_infer(types, attrs, consts):
    x, w = plain(types[0]), plain(types[1])
    b = plain(types[2]).shape if len(types) > 2 and types[2] is not None else None
    check_fused_activation(attrs, "conv_transpose2d")
    geometry = _transpose_geometry(x.shape, w.shape, b, attrs["stride"], attrs["pad"], attrs["output_padding"],
                                   attrs["dilation"], attrs["groups"])
    return [TensorType(x.dtype, geometry[-1])]


@op("conv_transpose2d", inputs=["x", "w", "b?"], attrs=CONV_TRANSPOSE_ATTRS, infer=_conv_transpose_infer)
def conv_transpose2d(x, w, b=None, *, stride=None, pad=None, output_padding=None, dilation=None, groups=1, **fused):
    stride, begin, end, out_pad, dilation, kernel, _ = _transpose_geometry(
        x.shape, w.shape, None if b is None else b.shape, stride, pad, output_padding, dilation, groups)
    n = len(kernel)
    up = np.zeros(x.shape[:2] + tuple((size - 1) * s + 1 for size, s in zip(x.shape[2:], stride)), x.dtype)
    up[(slice(None), slice(None)) + tuple(slice(None, None, s) for s in stride)] = x
    # a full correlation pads d*(k-1) on each side; the op's pads crop it, output_padding extends the end
    lo = [d * (k - 1) - bp for k, d, bp in zip(kernel, dilation, begin)]
    hi = [d * (k - 1) - ep + op_ for k, d, ep, op_ in zip(kernel, dilation, end, out_pad)]
    up = np.pad(up, [(0, 0), (0, 0)] + [(max(a, 0), max(c, 0)) for a, c in zip(lo, hi)])
    up = up[(slice(None), slice(None)) + tuple(slice(max(-a, 0), up.shape[2 + i] - max(-c, 0))
                                               for i, (a, c) in enumerate(zip(lo, hi)))]
    cin, cout_per_group = w.shape[:2]
    flipped = w.reshape(groups, cin // groups, cout_per_group, *kernel).swapaxes(1, 2)
    flipped = np.flip(flipped.reshape(groups * cout_per_group, cin // groups, *kernel), axis=tuple(range(2, 2 + n)))
    plan = plan_windows(up.shape[2:], kernel, (1,) * n, dilation, (0,) * n, (0,) * n, "conv_transpose2d")
    y = _add_bias(_correlate(up, flipped, plan, groups), b).astype(x.dtype, copy=False)
    return apply_fused_activation(y, use_torch=False, **fused)


@torch_impl("conv_transpose2d")
def conv_transpose2d_torch(x, w, b=None, *, stride=None, pad=None, output_padding=None, dilation=None, groups=1,
                           **fused):
    stride, begin, end, out_pad, dilation, _, _ = _transpose_geometry(
        tuple(x.shape), tuple(w.shape), None if b is None else tuple(b.shape), stride, pad, output_padding,
        dilation, groups)
    # F.conv_transpose2d takes only symmetric pads: compute the full output and crop it
    # (negative F.pad), letting output_padding extend past it with zeros before the bias
    y = F.conv_transpose2d(x, w, None, stride, 0, 0, groups, dilation)
    y = F.pad(y, torch_pad_list([-bp for bp in begin], [op_ - ep for ep, op_ in zip(end, out_pad)]))
    if b is not None:
        y = y + b.reshape(1, -1, 1, 1)
    return apply_fused_activation(y, use_torch=True, **fused)
