"""Convolutions, linear layers, matmul and normalizations (functional and ATen forms).

Module forms (nn.Conv2d, ...) call these with the module's attributes (fx_modules).
"""
from __future__ import annotations

import operator

import numpy as np
import torch
import torch.nn.functional as F

from ..ir.core import Value
from .fx_table import aten, converts


def spatial(value, n: int) -> list:
    """A torch int-or-tuple spatial argument as a list of n ints."""
    if isinstance(value, (list, tuple)):
        return [int(v) for v in value] * (n if len(value) == 1 else 1)
    return [int(value)] * n


def conv_padding(padding, kernel: list, dilation: list) -> list:
    """torch padding (ints, 'valid', 'same') as explicit ONNX-order pads."""
    n = len(kernel)
    if padding == "valid":
        return [0] * 2 * n
    if padding == "same":
        total = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return [t // 2 for t in total] + [t - t // 2 for t in total]
    pads = spatial(padding, n)
    return pads + pads


def conv(cx, x, w, b=None, stride=1, padding=0, dilation=1, groups=1, pad_mode="zeros") -> Value:
    n = cx.rank(w) - 2
    if n not in (1, 2):
        raise cx.error(f"conv{n}d is not in the op catalog")
    dilation = spatial(dilation, n)
    kernel = [int(k) for k in w.type.shape[2:]]
    return cx.emit(f"conv{n}d", [x, w, b], stride=spatial(stride, n), pad=conv_padding(padding, kernel, dilation),
                   dilation=dilation, groups=int(groups), pad_mode=None if pad_mode == "zeros" else pad_mode)


converts(F.conv1d, F.conv2d, aten.conv1d, aten.conv2d)(conv)


def conv_transpose(cx, x, w, b=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1) -> Value:
    n = cx.rank(w) - 2
    if n != 2:
        raise cx.error(f"conv_transpose{n}d is not in the op catalog")
    pads = spatial(padding, n)
    return cx.emit("conv_transpose2d", [x, w, b], stride=spatial(stride, n), pad=pads + pads,
                   output_padding=spatial(output_padding, n), dilation=spatial(dilation, n), groups=int(groups))


converts(F.conv_transpose2d, aten.conv_transpose2d)(conv_transpose)


@converts(aten.convolution)
def convolution(cx, x, w, b, stride, padding, dilation, transposed, output_padding, groups):
    if transposed:
        return conv_transpose(cx, x, w, b, stride, padding, output_padding, groups, dilation)
    return conv(cx, x, w, b, stride, padding, dilation, groups)


@converts(F.linear, aten.linear)
def linear(cx, x, w, b=None):
    return cx.emit("linear", [x, w, b])


@converts(torch.addmm, aten.addmm, methods=["addmm"])
def addmm(cx, c, a, b, beta=1, alpha=1):
    return cx.emit("gemm", [a, b, c], alpha=float(alpha), beta=float(beta))


@converts(operator.matmul, torch.matmul, torch.mm, torch.bmm,
          aten.matmul, aten.mm, aten.bmm, methods=["matmul", "mm", "bmm"])
def matmul(cx, a, b):
    return cx.emit("matmul", [a, b])


def _ones_or(cx, v, x, fill: float):
    """An optional per-channel norm parameter; torch treats a missing one as ones/zeros."""
    if v is not None:
        return v
    return cx.const(np.full([int(x.type.shape[1])], fill, dtype=np.float32))


def batch_norm(cx, x, mean, var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    if training:
        raise cx.error("batch norm in training mode (batch statistics) is not supported; import an eval() model")
    return cx.emit("batch_norm", [x, _ones_or(cx, weight, x, 1.0), _ones_or(cx, bias, x, 0.0), mean, var],
                   eps=float(eps))


converts(F.batch_norm)(batch_norm)


@converts(aten.batch_norm)
def aten_batch_norm(cx, x, weight, bias, mean, var, training, momentum, eps, cudnn_enabled=True):
    return batch_norm(cx, x, mean, var, weight, bias, training, momentum, eps)


@converts(aten._native_batch_norm_legit_no_training)
def aten_batch_norm_inference(cx, x, weight, bias, mean, var, momentum, eps):
    return [batch_norm(cx, x, mean, var, weight, bias, False, momentum, eps), None, None]


@converts(F.layer_norm, aten.layer_norm)
def layer_norm(cx, x, normalized_shape, weight=None, bias=None, eps=1e-5, cudnn_enable=True):
    return cx.emit("layer_norm", [x, weight, bias], axis=-len(normalized_shape), eps=float(eps))


@converts(aten.native_layer_norm)
def aten_native_layer_norm(cx, x, normalized_shape, weight, bias, eps):
    return [layer_norm(cx, x, normalized_shape, weight, bias, eps), None, None]


@converts(F.embedding)
def embedding(cx, indices, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
              sparse=False):
    if max_norm is not None:
        raise cx.error("embedding with max_norm (renormalizes weights in place) is not supported")
    return cx.emit("embedding", [indices, weight])


@converts(aten.embedding)
def aten_embedding(cx, weight, indices, padding_idx=-1, scale_grad_by_freq=False, sparse=False):
    return cx.emit("embedding", [indices, weight])


@converts(F.pad, aten.pad)
def pad(cx, x, pad, mode="constant", value=None):
    rank, pairs = cx.rank(x), len(pad) // 2
    # torch lists (begin, end) pairs from the last dim backwards; ONNX all begins then all ends
    begins, ends = [0] * rank, [0] * rank
    for i in range(pairs):
        begins[rank - 1 - i], ends[rank - 1 - i] = int(pad[2 * i]), int(pad[2 * i + 1])
    mode = {"constant": "constant", "reflect": "reflect", "replicate": "edge"}.get(mode)
    if mode is None:
        raise cx.error("only constant, reflect and replicate padding are in the op catalog")
    return cx.emit("pad", [x], pads=begins + ends, mode=mode, value=float(value or 0.0))


@converts(aten.constant_pad_nd)
def constant_pad_nd(cx, x, pad_sizes, value=0.0):
    return pad(cx, x, pad_sizes, "constant", value)
