"""qcodebook_conv2d: the integer convolution whose weight is a kernel codebook
(docs/codebook.md), lowered from conv2d(x, codebook weight, b).

Operands: `x` quantized per tensor; `codebook` the integer codewords [K, kh, kw] as a
per-tensor quantized value with zero point 0 (its scale is the codebook's one scale);
`indices` integers [Cout, Cin/groups], one codeword per kernel; `b` the optional i32
bias in accumulator units (s_x · s_codebook). The arithmetic is
`qcompiler.numerics.codebook_conv.codebook_qconv2d`: acc = b + Σ (x − zp_x) ⋆
codebook[indices], requantized per output channel and clamped. Keeping codewords and
indices apart (rather than one materialized weight) is what lets a kernel convolve
each input channel once per codeword.
"""
from __future__ import annotations

import numpy as np

from ...numerics.codebook_conv import Requant, Window, codebook_qconv2d
from ..errors import VerifyError
from ..registry import Attr, infer_types, op
from ..types import TensorType
from .infer import plain
from .quant_common import (CLAMP_ATTR, REQUANT_ATTRS, bias_operand, check_clamp, check_requant, fmt_type,
                           quant_operand, result_type)
from .spatial import ints_attr, pads_attr

NAME = "qcodebook_conv2d"
WINDOW_ATTRS = {
    "stride": Attr("ints", None, doc="one per spatial dim; None = all 1"),
    "pad": Attr("ints", None, doc="ONNX order [top, left, bottom, right], padded with zp_x (real 0); None = none"),
    "dilation": Attr("ints", None, doc="one per spatial dim; None = all 1"),
    "groups": Attr("int", 1),
}
QCODEBOOK_CONV_ATTRS = {**WINDOW_ATTRS, **REQUANT_ATTRS, **CLAMP_ATTR}


def _infer(types, attrs, consts):
    x = quant_operand(types[0], NAME, "x", max_bits=16)
    codebook = quant_operand(types[1], NAME, "codebook", max_bits=8)
    if codebook.rank != 3 or np.any(codebook.zero_point.array):
        raise VerifyError(f"{NAME}: 'codebook' must be [K, kh, kw] codewords with zero point 0, got "
                          f"{fmt_type(codebook)}")
    indices = plain(types[2]) if types[2] is not None else None
    if indices is None or indices.dtype not in ("u8", "i8", "i16", "i32", "i64") or indices.rank != 2:
        raise VerifyError(f"{NAME}: 'indices' must be integers [Cout, Cin/groups], got {fmt_type(types[2])}")
    if consts[2] is not None and consts[2].size and (consts[2].min() < 0 or consts[2].max() >= codebook.shape[0]):
        raise VerifyError(f"{NAME}: indices outside [0, {codebook.shape[0] - 1}] (the codebook has "
                          f"{codebook.shape[0]} codewords)")
    bias = types[3] if len(types) > 3 else None
    bias_operand(bias, NAME)
    check_clamp(attrs["clamp"], NAME)
    weight = TensorType(x.expressed, tuple(indices.shape) + tuple(codebook.shape[1:]))
    window = {k: attrs[k] for k in WINDOW_ATTRS}
    out = infer_types("conv2d", [x, weight] + ([bias] if bias is not None else []), window)[0]
    check_requant(attrs, indices.shape[0], NAME)
    return [result_type(x, out.shape)]


def window_of(attrs: dict) -> Window:
    """The op's window attributes, defaults filled in, as the integer reference takes them."""
    begin, end = pads_attr(attrs.get("pad"), 2, NAME)
    return Window(ints_attr(attrs.get("stride"), 2, 1, "stride", NAME, 1), tuple(begin) + tuple(end),
                  ints_attr(attrs.get("dilation"), 2, 1, "dilation", NAME, 1), attrs.get("groups", 1))


def requant_of(multiplier, shift, rounding: str, clamp, out_zero_point: int, channels: int) -> Requant:
    """The requantization attributes, one multiplier and shift per output channel."""
    expand = lambda a: np.array(np.broadcast_to(np.asarray(a, np.int64).reshape(-1), (channels,)))  # noqa: E731
    return Requant(expand(multiplier), expand(shift), out_zero_point, int(clamp[0]), int(clamp[1]), rounding)


@op(NAME, inputs=["x", "codebook", "indices", "b?"], attrs=QCODEBOOK_CONV_ATTRS, infer=_infer, integer=True)
def qcodebook_conv2d(x, codebook, indices, b=None, *, in_types, out_types, multiplier, shift, rounding, clamp,
                     **window):
    """Integer conv2d with weight codebook[indices]: per-channel requantization along axis 1, clamp to 'clamp'."""
    out_zp = int(out_types[0].zero_point.array.reshape(-1)[0])
    x_zp = int(in_types[0].zero_point.array.reshape(-1)[0])
    requant = requant_of(multiplier.array, shift.array, rounding, clamp, out_zp, indices.shape[0])
    y = codebook_qconv2d(x, x_zp, codebook, indices, b, window_of(window), requant)
    return y.astype(np.int32)
