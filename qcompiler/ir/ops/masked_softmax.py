"""masked_softmax: softmax of scores plus an additive attention mask given as a boolean
`keep` and the number added where it is false.

Attention masks are built as `where(keep, 0, fill)` (fill = -inf, finfo(float32).min,
-1e4) and added to the scores. As a float value such a mask is unquantizable: its
range is [fill, 0], so 8 bits give every real score the same level. Here the mask
stays boolean and `fill` is an attribute, so no quantized value ever holds it. The
result is exactly softmax(x + where(keep, 0, fill)): -inf is legal (its entries get
probability 0), and a row where nothing is kept gives NaN with -inf and the uniform
distribution with a finite fill, as the additive form does. `zero_empty_rows` (with
fill -inf only) gives such a row probability 0 everywhere instead: torch's
scaled_dot_product_attention, which exporters spell as where(isnan(p), 0, p).
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import VerifyError
from ..registry import Attr, op, torch_impl
from ..types import TensorType
from .infer import broadcast_shapes, norm_axis, plain


def _masked_softmax_type(types, attrs, consts):
    x, keep = plain(types[0]), plain(types[1])
    if x.dtype not in ("f64", "f32", "f16", "bf16"):
        raise VerifyError(f"masked_softmax: scores must be float, got {types[0]}")
    if keep.dtype != "bool":
        raise VerifyError(f"masked_softmax: keep must be bool, got {types[1]}")
    if math.isnan(attrs["fill"]) or attrs["fill"] > 0:
        raise VerifyError(f"masked_softmax: fill must be zero or negative, got {attrs['fill']}")
    if attrs["zero_empty_rows"] and attrs["fill"] != -math.inf:
        raise VerifyError(f"masked_softmax: zero_empty_rows needs fill=-inf (with {attrs['fill']} a row where "
                          f"nothing is kept is the softmax of the scores shifted by the fill)")
    shape = broadcast_shapes(x.shape, keep.shape)
    norm_axis(attrs["axis"], len(shape), "masked_softmax: ")
    return [TensorType(x.dtype, shape)]


@op("masked_softmax", inputs=["x", "keep"],
    attrs={"axis": Attr("int", -1), "fill": Attr("float", -math.inf), "zero_empty_rows": Attr("bool", False)},
    infer=_masked_softmax_type)
def masked_softmax(x, keep, axis=-1, fill=-math.inf, zero_empty_rows=False):
    scores = x + np.where(keep, 0, fill).astype(x.dtype)
    peak = np.max(scores, axis=axis, keepdims=True)
    with np.errstate(invalid="ignore"):  # a row with nothing kept: -inf - -inf, NaN as in softmax(x - inf)
        e = np.exp(scores - peak)
        p = e / np.sum(e, axis=axis, keepdims=True)
    return np.where(np.isneginf(peak), np.zeros((), p.dtype), p) if zero_empty_rows else p


@torch_impl("masked_softmax")
def masked_softmax_torch(x, keep, axis=-1, fill=-math.inf, zero_empty_rows=False):
    scores = x + torch.where(keep, torch.zeros((), dtype=x.dtype), torch.full((), fill, dtype=x.dtype))
    p = F.softmax(scores, dim=axis)
    if zero_empty_rows:
        p = torch.where(torch.isneginf(scores.amax(dim=axis, keepdim=True)), torch.zeros((), dtype=p.dtype), p)
    return p
