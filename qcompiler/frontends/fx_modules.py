"""torch.nn modules the importer maps directly (the tracer's leaf set).

Most are their functional form applied with the module's attributes; parameters become
`const` nodes whose `origin` is their module path ("features.0.weight"), buffers (batch
norm statistics) `const` nodes named by their path.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .fx_ops_nn import batch_norm, conv, conv_transpose, layer_norm
from .fx_table import FUNCTIONS, converts_module


def _functional(fn, attrs: tuple):
    def handler(cx, m, x):
        return FUNCTIONS[fn](cx, x, *(getattr(m, a) for a in attrs))

    return handler


_MAX_POOL = ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")
_AVG_POOL = ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad")

for _module, _fn, _attrs in [
    (nn.ReLU, F.relu, ()), (nn.ReLU6, F.relu6, ()), (nn.Sigmoid, torch.sigmoid, ()), (nn.Tanh, torch.tanh, ()),
    (nn.Hardswish, F.hardswish, ()), (nn.Hardsigmoid, F.hardsigmoid, ()), (nn.SiLU, F.silu, ()),
    (nn.GELU, F.gelu, ("approximate",)), (nn.LeakyReLU, F.leaky_relu, ("negative_slope",)),
    (nn.ELU, F.elu, ("alpha",)), (nn.Softplus, F.softplus, ("beta", "threshold")),
    (nn.Hardtanh, F.hardtanh, ("min_val", "max_val")),
    (nn.Softmax, F.softmax, ("dim",)), (nn.LogSoftmax, F.log_softmax, ("dim",)),
    (nn.MaxPool1d, F.max_pool1d, _MAX_POOL), (nn.MaxPool2d, F.max_pool2d, _MAX_POOL),
    (nn.AvgPool1d, F.avg_pool1d, _AVG_POOL), (nn.AvgPool2d, F.avg_pool2d, _AVG_POOL + ("divisor_override",)),
    (nn.AdaptiveAvgPool1d, F.adaptive_avg_pool1d, ("output_size",)),
    (nn.AdaptiveAvgPool2d, F.adaptive_avg_pool2d, ("output_size",)),
    (nn.AdaptiveMaxPool2d, F.adaptive_max_pool2d, ("output_size", "return_indices")),
    (nn.Flatten, torch.flatten, ("start_dim", "end_dim")),
    (nn.Upsample, F.interpolate, ("size", "scale_factor", "mode", "align_corners", "recompute_scale_factor")),
]:
    converts_module(_module)(_functional(_fn, _attrs))


@converts_module(nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.AlphaDropout)
def passthrough(cx, m, x, *args, **kwargs):
    return x


@converts_module(nn.Conv1d, nn.Conv2d)
def conv_module(cx, m, x):
    return conv(cx, x, cx.module_param("weight"), cx.module_param("bias"), m.stride, m.padding, m.dilation,
                m.groups, pad_mode=m.padding_mode)


@converts_module(nn.ConvTranspose2d)
def conv_transpose_module(cx, m, x, output_size=None):
    if output_size is not None:
        raise cx.error("ConvTranspose2d called with output_size is not supported")
    return conv_transpose(cx, x, cx.module_param("weight"), cx.module_param("bias"), m.stride, m.padding,
                          m.output_padding, m.groups, m.dilation)


@converts_module(nn.Linear)
def linear_module(cx, m, x):
    return cx.emit("linear", [x, cx.module_param("weight"), cx.module_param("bias")])


@converts_module(nn.BatchNorm1d, nn.BatchNorm2d)
def batch_norm_module(cx, m, x):
    if m.running_mean is None:
        raise cx.error("batch norm without running statistics (track_running_stats=False) is not supported")
    return batch_norm(cx, x, cx.module_param("running_mean"), cx.module_param("running_var"),
                      cx.module_param("weight"), cx.module_param("bias"), eps=m.eps)


@converts_module(nn.LayerNorm)
def layer_norm_module(cx, m, x):
    return layer_norm(cx, x, m.normalized_shape, cx.module_param("weight"), cx.module_param("bias"), m.eps)


@converts_module(nn.Embedding)
def embedding_module(cx, m, indices):
    return FUNCTIONS[F.embedding](cx, indices, cx.module_param("weight"), m.padding_idx, m.max_norm)


@converts_module(nn.PReLU)
def prelu_module(cx, m, x):
    return cx.emit("prelu", [x, cx.module_param("weight")])
