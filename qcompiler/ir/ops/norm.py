"""Normalizations: batch_norm (inference form), layer_norm (ONNX LayerNormalization
axes), instance_norm and lrn (local response normalization across channels); channel
axis 1 for the per-channel ones."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import VerifyError
from ..registry import Attr, op, torch_impl
from .infer import norm_axis, plain

EPS = {"eps": Attr("float", 1e-5)}


def _per_channel_type(name: str, params: tuple):
    """Inference for ops whose parameters are [C] vectors along axis 1."""

    def infer(types, attrs, consts):
        x = plain(types[0])
        if x.rank < 2:
            raise VerifyError(f"{name}: input must have rank >= 2 [N, C, ...], got shape {list(x.shape)}")
        if attrs["eps"] < 0:
            raise VerifyError(f"{name}: eps must be >= 0, got {attrs['eps']}")
        c = x.shape[1]
        for role, t in zip(params, types[1:]):
            shape = plain(t).shape
            if len(shape) != 1 or (isinstance(shape[0], int) and isinstance(c, int) and shape[0] != c):
                raise VerifyError(f"{name}: {role} has shape {list(shape)} but the input has {c} channels (axis 1)")
        return [x]

    return infer


def _channel(v, rank: int):
    return v.reshape((-1,) + (1,) * (rank - 2))


@op("batch_norm", inputs=["x", "weight", "bias", "mean", "var"], attrs=EPS,
    infer=_per_channel_type("batch_norm", ("weight", "bias", "mean", "var")))
def batch_norm(x, weight, bias, mean, var, eps=1e-5):
    scale = weight / np.sqrt(var + float(eps))
    y = (x - _channel(mean, x.ndim)) * _channel(scale, x.ndim) + _channel(bias, x.ndim)
    return y.astype(x.dtype, copy=False)


@torch_impl("batch_norm")
def batch_norm_torch(x, weight, bias, mean, var, eps=1e-5):
    # Written out rather than F.batch_norm: the statistics may be trainable parameters
    # (ONNX initializers become parameters), which F.batch_norm refuses in eval mode.
    shape = (1, -1) + (1,) * (x.dim() - 2)
    scale = weight * torch.rsqrt(var + float(eps))
    return (x - mean.reshape(shape)) * scale.reshape(shape) + bias.reshape(shape)


@op("instance_norm", inputs=["x", "weight", "bias"], attrs=EPS,
    infer=_per_channel_type("instance_norm", ("weight", "bias")))
def instance_norm(x, weight, bias, eps=1e-5):
    axes = tuple(range(2, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    y = (x - mean) / np.sqrt(var + float(eps)) * _channel(weight, x.ndim) + _channel(bias, x.ndim)
    return y.astype(x.dtype, copy=False)


@torch_impl("instance_norm")
def instance_norm_torch(x, weight, bias, eps=1e-5):
    return F.instance_norm(x, weight=weight, bias=bias, eps=float(eps))


def _broadcasts_to(shape, target) -> bool:
    """Unidirectional broadcast; a symbolic dim may stand for any size."""
    return len(shape) <= len(target) and all(
        s == 1 or s == t or isinstance(s, str) or isinstance(t, str) for s, t in zip(reversed(shape), reversed(target)))


def _layer_norm_type(types, attrs, consts):
    x = plain(types[0])
    axis = norm_axis(attrs["axis"], x.rank, "layer_norm: ")
    if attrs["eps"] < 0:
        raise VerifyError(f"layer_norm: eps must be >= 0, got {attrs['eps']}")
    normalized = x.shape[axis:]
    for role, t in zip(("weight", "bias"), types[1:]):
        if t is None:
            continue
        shape = plain(t).shape
        if not _broadcasts_to(shape, normalized):
            raise VerifyError(f"layer_norm: {role} of shape {list(shape)} does not broadcast to the "
                              f"normalized dims {list(normalized)} (axis {attrs['axis']})")
    return [x]


@op("layer_norm", inputs=["x", "weight?", "bias?"], attrs={"axis": Attr("int", -1), **EPS}, infer=_layer_norm_type)
def layer_norm(x, weight=None, bias=None, axis=-1, eps=1e-5):
    """Normalizes over dims axis..rank-1 (ONNX LayerNormalization)."""
    axes = tuple(range(axis % x.ndim, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    y = (x - mean) / np.sqrt(x.var(axis=axes, keepdims=True) + float(eps))
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y.astype(x.dtype, copy=False)


@torch_impl("layer_norm")
def layer_norm_torch(x, weight=None, bias=None, axis=-1, eps=1e-5):
    normalized = tuple(x.shape[axis % x.ndim:])
    # F.layer_norm wants parameters of exactly the normalized shape; ONNX allows broadcasting ones
    exact = all(p is None or tuple(p.shape) == normalized for p in (weight, bias))
    if exact:
        return F.layer_norm(x, normalized, weight, bias, float(eps))
    y = F.layer_norm(x, normalized, None, None, float(eps))
    y = y if weight is None else y * weight
    return y if bias is None else y + bias


def _lrn_type(types, attrs, consts):
    x = plain(types[0])
    if x.rank < 3:
        raise VerifyError(f"lrn: input must have rank >= 3 [N, C, *spatial], got shape {list(x.shape)}")
    if attrs["size"] < 1:
        raise VerifyError(f"lrn: size must be >= 1, got {attrs['size']}")
    return [x]


def _lrn_window(size: int) -> tuple:
    """Channels summed before and after channel c (ONNX: floor / ceil of (size-1)/2)."""
    return (size - 1) // 2, size // 2


@op("lrn", inputs=["x"], attrs={"size": Attr("int"), "alpha": Attr("float", 1e-4), "beta": Attr("float", 0.75),
                                "bias": Attr("float", 1.0)}, infer=_lrn_type)
def lrn(x, size, alpha=1e-4, beta=0.75, bias=1.0):
    """y = x / (bias + alpha / size * sum of x^2 over a window of `size` channels) ^ beta
    (ONNX LRN; the window is cut at the first and last channel)."""
    before, after = _lrn_window(int(size))
    sq = np.square(x.astype(np.float64))
    padded = np.pad(sq, [(0, 0), (before, after)] + [(0, 0)] * (x.ndim - 2))
    window = np.cumsum(padded, axis=1)
    window = np.concatenate([window[:, size - 1:size], window[:, size:] - window[:, :-size]], axis=1)
    y = x / (float(bias) + float(alpha) / size * window) ** float(beta)
    return y.astype(x.dtype, copy=False)


@torch_impl("lrn")
def lrn_torch(x, size, alpha=1e-4, beta=0.75, bias=1.0):
    # F.local_response_norm centres an even window one channel later than ONNX
    before, after = _lrn_window(int(size))
    n, c = x.shape[:2]
    sq = (x * x).reshape(n, 1, c, -1)
    window = F.avg_pool2d(F.pad(sq, (0, 0, before, after)), (size, 1), stride=1) * size
    return x / (float(bias) + float(alpha) / size * window.reshape(x.shape)) ** float(beta)
