"""I-BERT integer kernels (Kim et al., 2021) as integer ops over the last axis:
ibert_softmax (with an optional bool `keep` mask, masked_softmax's with zero_empty_rows),
ibert_gelu and ibert_layer_norm. Each reads per-tensor quantized storage and writes the
storage of its per-tensor quantized result type; the arithmetic (int32 only) is in
qcompiler/numerics/ibert_*.py, and the Numba kernels repeat it bit for bit.
`transformer-recipe{integer=...}` asks for them and `lower` emits them."""
from __future__ import annotations

import numpy as np

from ...numerics.ibert_gelu import GeluPlan, i_gelu
from ...numerics.ibert_layer_norm import LayerNormPlan, i_layer_norm
from ...numerics.ibert_softmax import SoftmaxPlan, i_softmax
from ..errors import VerifyError
from ..registry import Attr, op
from ..types import QuantType
from .infer import plain
from .quant_common import centered, fmt_type, quant_operand, result_type


def _zero_point(t: QuantType) -> int:
    return int(t.zero_point.array.reshape(-1)[0])


def _scale(t: QuantType) -> float:
    return float(t.scale.array.reshape(-1)[0])


def _output(t, where: str) -> QuantType:
    if not isinstance(t, QuantType) or t.axis is not None:
        raise TypeError(f"{where}: the result must have a per-tensor quantized type, got {fmt_type(t)}")
    return t


def softmax_plan(in_t: QuantType, out_t: QuantType) -> SoftmaxPlan:
    out_t = _output(out_t, "ibert_softmax")
    return SoftmaxPlan.of(_scale(in_t), _scale(out_t), _zero_point(out_t), out_t.qmin, out_t.qmax)


def gelu_plan(in_t: QuantType, out_t: QuantType) -> GeluPlan:
    out_t = _output(out_t, "ibert_gelu")
    return GeluPlan.of(_scale(in_t), in_t.bits, _scale(out_t), _zero_point(out_t), out_t.qmin, out_t.qmax)


def layer_norm_plan(in_t: QuantType, out_t: QuantType, weight, bias, eps: float) -> LayerNormPlan:
    out_t = _output(out_t, "ibert_layer_norm")
    return LayerNormPlan.of(in_t.shape[-1], weight, bias, _zero_point(in_t), _scale(out_t), _zero_point(out_t),
                            out_t.qmin, out_t.qmax, in_scale=_scale(in_t), eps=eps)


def _softmax_type(types, attrs, consts):
    t = quant_operand(types[0], "ibert_softmax", "x", max_bits=16)
    if len(types) > 1 and types[1] is not None and plain(types[1]).dtype != "bool":
        raise VerifyError(f"ibert_softmax: operand 'keep' must be bool, got {fmt_type(types[1])}")
    return [result_type(t, t.shape)]


@op("ibert_softmax", inputs=["x", "keep?"], infer=_softmax_type, integer=True)
def ibert_softmax(x, keep=None, *, in_types, out_types):
    """Softmax over the last axis by I-BERT's i-exp; positions where `keep` is false get 0."""
    return i_softmax(centered(x, in_types[0]), softmax_plan(in_types[0], out_types[0]), keep).astype(np.int32)


def _gelu_type(types, attrs, consts):
    t = quant_operand(types[0], "ibert_gelu", "x", max_bits=16)
    return [result_type(t, t.shape)]


@op("ibert_gelu", inputs=["x"], infer=_gelu_type, integer=True)
def ibert_gelu(x, *, in_types, out_types):
    """GELU by I-BERT's second-order erf polynomial."""
    return i_gelu(centered(x, in_types[0]), gelu_plan(in_types[0], out_types[0])).astype(np.int32)


def _layer_norm_type(types, attrs, consts):
    t = quant_operand(types[0], "ibert_layer_norm", "x")
    if t.bits == 32 and np.any(t.zero_point.array):  # x - zp must stay in int32
        raise VerifyError(f"ibert_layer_norm: i32 input needs zero point 0, got {fmt_type(t)}")
    channels = t.shape[-1] if t.rank else None
    if not isinstance(channels, int):
        raise VerifyError(f"ibert_layer_norm: the last dim of x must be a known size, got {fmt_type(t)}")
    for role, p in zip(("weight", "bias"), types[1:]):
        if p is not None and (isinstance(p, QuantType) or p.shape not in ((channels,), (1,), ())):
            raise VerifyError(f"ibert_layer_norm: '{role}' must be a float vector of {channels}, got {fmt_type(p)}")
    return [result_type(t, t.shape)]


@op("ibert_layer_norm", inputs=["x", "weight?", "bias?"], infer=_layer_norm_type, integer=True,
    attrs={"eps": Attr("float", 1e-5)})
def ibert_layer_norm(x, weight=None, bias=None, eps=1e-5, *, in_types, out_types):
    """LayerNorm over the last axis with I-BERT's integer square root; weight, bias and
    eps are folded into integer multipliers and offsets."""
    plan = layer_norm_plan(in_types[0], out_types[0], weight, bias, eps)
    return i_layer_norm(np.asarray(x, np.int64), plan).astype(np.int32)
