"""Per-channel affine ops folded into what produces their operand (rules of fold-bn).

Caffe-style exports write a batch norm's scale and shift as separate ops (BatchNorm →
Mul → Add, DenseNet and Inception v2), and some models scale a conv's output per channel.
Left alone, the conv's result is quantized per tensor *before* a per-channel rescale of
up to hundreds of times, which costs most of its resolution. Folded:

    mul(conv(x, w, b), k)      = conv(x, w * k, b * k)
    add(conv(x, w, b), k)      = conv(x, w, b + k)          (canonicalize's bias rule)
    mul(batch_norm(x, g, β, μ, σ²), k) = batch_norm(x, g * k, β * k, μ, σ²)
    add(batch_norm(x, g, β, μ, σ²), k) = batch_norm(x, g, β + k, μ, σ²)

with `k` a constant of one value per output channel (or one value). Chains fold one op
at a time, so scale / shift before a batch norm, after it or several in a row all end
in the conv (the batch norm itself folds by fold_bn's rule).
"""
from __future__ import annotations

import numpy as np

from qcompiler.ir.types import TensorType
from qcompiler.rewrite import Const, Op, Rule

from ..calibration.attrs import with_result_calibration
from ..canonicalize.canonicalize import BIASED, _bias_into_producer, _per_channel

# `_per_channel` reads the producer as m["conv"] and the constant as m["k"]; its channel
# axis is 1 except for linear, which is batch_norm's axis too
PRODUCER = Op(BIASED, name="conv", single_use=True, attrs={"activation": None})
NORM = Op("batch_norm", name="conv", single_use=True)


def channel_scale(w: np.ndarray, scale: np.ndarray, op: str, groups: int) -> np.ndarray:
    """`w` with output channel o multiplied by scale[o], in `op`'s weight layout."""
    if op != "conv_transpose2d":
        return w * scale.reshape((-1,) + (1,) * (w.ndim - 1))
    c_in, c_out_g = w.shape[:2]
    grouped = w.reshape(groups, c_in // groups, c_out_g, *w.shape[2:])
    per_group = scale.reshape(groups, 1, c_out_g, *(1,) * (w.ndim - 2))
    return (grouped * per_group).reshape(w.shape)


def _float_weights(m) -> bool:
    conv = m["conv"]
    # a quantized weight is folded before quantization, not after
    return all(isinstance(v.type, TensorType) and v.type.dtype in ("f32", "f64", "f16")
               and m.graph.const_value(v) is not None for v in conv.inputs[1:] if v is not None)


def _foldable(m) -> bool:
    return _float_weights(m) and _per_channel(m) is not None


def _scale_into_producer(b, m):
    conv, k = m["conv"], _per_channel(m).astype(np.float64)
    w, bias = (m.graph.const_value(v) if v is not None else None for v in (conv.inputs[1], _bias_of(conv)))
    new_w = channel_scale(w.astype(np.float64), k, conv.op, int(conv.attrs.get("groups", 1))).astype(w.dtype)
    inputs = [conv.inputs[0], _const_like(b, new_w, conv.inputs[1])]
    if bias is not None:
        inputs.append(_const_like(b, (bias * k).astype(bias.dtype), conv.inputs[2]))
    return b.op(conv.op, inputs, with_result_calibration(conv.attrs, m.root))


def _bias_of(conv):
    return conv.inputs[2] if len(conv.inputs) > 2 else None


def _scale_into_norm(b, m):
    norm, k = m["conv"], _per_channel(m).astype(np.float64)
    x, gamma, beta, mean, var = norm.inputs
    new_gamma = (m.graph.const_value(gamma) * k).astype(m.graph.const_value(gamma).dtype)
    new_beta = (m.graph.const_value(beta) * k).astype(m.graph.const_value(beta).dtype)
    return b.op("batch_norm", [x, _const_like(b, new_gamma, gamma), _const_like(b, new_beta, beta), mean, var],
                with_result_calibration(norm.attrs, m.root))


def _shift_into_norm(b, m):
    norm, k = m["conv"], _per_channel(m)
    x, gamma, beta, mean, var = norm.inputs
    new_beta = (m.graph.const_value(beta) + k).astype(m.graph.const_value(beta).dtype)
    return b.op("batch_norm", [x, gamma, _const_like(b, new_beta, beta), mean, var],
                with_result_calibration(norm.attrs, m.root))


def _const_like(b, array: np.ndarray, old):
    """A new constant replacing `old`, keeping the parameter name it came from."""
    return b.constant(np.ascontiguousarray(array), origin=old.producer.attrs.get("origin"))


RULES = [
    Rule("scale-into-producer", Op("mul", PRODUCER, Const("k")), _scale_into_producer, condition=_foldable),
    Rule("shift-into-producer", Op("add", PRODUCER, Const("k")), _bias_into_producer, condition=_foldable),
    Rule("scale-into-batch-norm", Op("mul", NORM, Const("k")), _scale_into_norm, condition=_foldable),
    Rule("shift-into-batch-norm", Op("add", NORM, Const("k")), _shift_into_norm, condition=_foldable),
]
