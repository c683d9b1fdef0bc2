"""Elementwise activations, softmax and dropout: numpy references and torch versions."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy import special

from ..errors import VerifyError
from ..registry import Attr, op, torch_impl
from .infer import broadcast_shapes, norm_axis, plain, same_as_first


def _cast_like(y, x):
    return np.asarray(y, dtype=x.dtype)


@op("relu", inputs=["x"], infer=same_as_first)
def relu(x):
    return np.maximum(x, 0).astype(x.dtype, copy=False)


@torch_impl("relu")
def relu_torch(x):
    return F.relu(x)


@op("relu6", inputs=["x"], infer=same_as_first)
def relu6(x):
    return np.clip(x, 0, 6).astype(x.dtype, copy=False)


@torch_impl("relu6")
def relu6_torch(x):
    return F.relu6(x)


@op("sigmoid", inputs=["x"], infer=same_as_first)
def sigmoid(x):
    return special.expit(x)


@torch_impl("sigmoid")
def sigmoid_torch(x):
    return torch.sigmoid(x)


@op("tanh", inputs=["x"], infer=same_as_first)
def tanh(x):
    return np.tanh(x)


@torch_impl("tanh")
def tanh_torch(x):
    return torch.tanh(x)


@op("hardswish", inputs=["x"], infer=same_as_first)
def hardswish(x):
    return _cast_like(x * np.clip(x + 3, 0, 6) / 6, x)


@torch_impl("hardswish")
def hardswish_torch(x):
    return F.hardswish(x)


@op("hardsigmoid", inputs=["x"], attrs={"alpha": Attr("float", 1 / 6), "beta": Attr("float", 0.5)}, infer=same_as_first)
def hardsigmoid(x, alpha=1 / 6, beta=0.5):
    return _cast_like(np.clip(x * float(alpha) + float(beta), 0, 1), x)


@torch_impl("hardsigmoid")
def hardsigmoid_torch(x, alpha=1 / 6, beta=0.5):
    # F.hardsigmoid hard-codes torch's 1/6, 0.5; ONNX models bring other slopes
    return F.hardtanh(x * float(alpha) + float(beta), 0.0, 1.0)


@op("silu", inputs=["x"], infer=same_as_first)
def silu(x):
    return _cast_like(x * special.expit(x), x)


@torch_impl("silu")
def silu_torch(x):
    return F.silu(x)


@op("softplus", inputs=["x"], infer=same_as_first)
def softplus(x):
    return np.logaddexp(x, 0).astype(x.dtype, copy=False)


@torch_impl("softplus")
def softplus_torch(x):
    return F.softplus(x)


@op("gelu", inputs=["x"], attrs={"approximate": Attr("str", "none", choices=("none", "tanh"))}, infer=same_as_first)
def gelu(x, approximate="none"):
    if approximate == "tanh":
        inner = np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)
        return _cast_like(0.5 * x * (1 + np.tanh(inner)), x)
    return _cast_like(0.5 * x * (1 + special.erf(x / np.sqrt(2))), x)


@torch_impl("gelu")
def gelu_torch(x, approximate="none"):
    return F.gelu(x, approximate=approximate)


@op("leaky_relu", inputs=["x"], attrs={"alpha": Attr("float", 0.01)}, infer=same_as_first)
def leaky_relu(x, alpha=0.01):
    return _cast_like(np.where(x >= 0, x, x * float(alpha)), x)


@torch_impl("leaky_relu")
def leaky_relu_torch(x, alpha=0.01):
    return F.leaky_relu(x, float(alpha))


@op("elu", inputs=["x"], attrs={"alpha": Attr("float", 1.0)}, infer=same_as_first)
def elu(x, alpha=1.0):
    # expm1 only of the negative part: the positive branch would overflow for large x
    return _cast_like(np.where(x > 0, x, float(alpha) * np.expm1(np.minimum(x, 0))), x)


@torch_impl("elu")
def elu_torch(x, alpha=1.0):
    return F.elu(x, float(alpha))


def _clip_type(types, attrs, consts):
    lo, hi = attrs["min"], attrs["max"]
    if lo is not None and hi is not None and lo > hi:
        raise VerifyError(f"clip: min {lo} is greater than max {hi}")
    return [plain(types[0])]


@op("clip", inputs=["x"], attrs={"min": Attr("float", None), "max": Attr("float", None)}, infer=_clip_type)
def clip(x, min=None, max=None):
    if min is None and max is None:
        return x
    return np.clip(x, min, max).astype(x.dtype, copy=False)


@torch_impl("clip")
def clip_torch(x, min=None, max=None):
    if min is None and max is None:
        return x
    return torch.clamp(x, min, max)


def _channel_slope(slope, rank: int):
    """A per-channel [C] slope reshaped to broadcast along axis 1 (torch PReLU rule)."""
    if slope.ndim == 1 and rank >= 2:
        return slope.reshape((-1,) + (1,) * (rank - 2))
    return slope


def _prelu_type(types, attrs, consts):
    x, slope = plain(types[0]), plain(types[1])
    if slope.rank == 1 and x.rank >= 2:
        c, s = x.shape[1], slope.shape[0]
        if isinstance(c, int) and isinstance(s, int) and s not in (1, c):
            raise VerifyError(f"prelu: slope has {s} entries but the input has {c} channels (axis 1)")
    else:
        try:
            broadcast_shapes(x.shape, slope.shape)
        except VerifyError:
            raise VerifyError(f"prelu: slope shape {list(slope.shape)} does not broadcast to input {list(x.shape)}") from None
    return [x]


@op("prelu", inputs=["x", "slope"], infer=_prelu_type)
def prelu(x, slope):
    return _cast_like(np.where(x >= 0, x, x * _channel_slope(slope, x.ndim)), x)


@torch_impl("prelu")
def prelu_torch(x, slope):
    if slope.ndim == 1:
        return F.prelu(x, slope)
    return torch.where(x >= 0, x, x * slope)


def _axis_type(name: str):
    def infer(types, attrs, consts):
        t = plain(types[0])
        norm_axis(attrs["axis"], t.rank, f"{name}: ")
        return [t]

    return infer


@op("softmax", inputs=["x"], attrs={"axis": Attr("int", -1)}, infer=_axis_type("softmax"))
def softmax(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


@torch_impl("softmax")
def softmax_torch(x, axis=-1):
    return F.softmax(x, dim=axis)


@op("log_softmax", inputs=["x"], attrs={"axis": Attr("int", -1)}, infer=_axis_type("log_softmax"))
def log_softmax(x, axis=-1):
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


@torch_impl("log_softmax")
def log_softmax_torch(x, axis=-1):
    return F.log_softmax(x, dim=axis)


def _dropout_type(types, attrs, consts):
    if not 0 <= attrs["p"] < 1:
        raise VerifyError(f"dropout: p must be in [0, 1), got {attrs['p']}")
    return [plain(types[0])]


@op("dropout", inputs=["x"], attrs={"p": Attr("float", 0.5)}, infer=_dropout_type)
def dropout(x, p=0.5):
    """Inference form: identity."""
    return x


@torch_impl("dropout")
def dropout_torch(x, p=0.5):
    return F.dropout(x, float(p), training=False)
