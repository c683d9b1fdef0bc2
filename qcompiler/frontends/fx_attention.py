"""Attention decomposed into catalog ops: scaled_dot_product_attention and
nn.MultiheadAttention (a leaf module: its forward is input checks around one fused
call that fx cannot see into, and its weights map directly)."""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
import torch.nn as nn
import torch.nn.functional as F

from ..ir.core import Value
from .fx_ops_math import binary
from .fx_table import aten, converts, converts_module


class Mask:
    """An attention mask split the way masked_softmax takes it: `keep` (bool, True where a
    query may attend) and `bias` (a float mask added to the scores, e.g. ALiBi), either
    None. A bool mask never becomes a float -inf tensor, which no quantizer could hold."""

    def __init__(self, keep: Optional[Value] = None, bias: Optional[Value] = None):
        self.keep, self.bias = keep, bias

    @classmethod
    def of(cls, cx, mask: Value, dtype: str, true_means_masked: bool) -> "Mask":
        if cx.dtype(mask) != "bool":
            return cls(bias=cx.cast(mask, dtype))
        return cls(keep=cx.emit("not", [mask]) if true_means_masked else mask)

    def apply(self, fn) -> "Mask":
        """The same mask with `fn` (a reshape, an unsqueeze) applied to each part."""
        return Mask(*(None if v is None else fn(v) for v in (self.keep, self.bias)))


def combine(cx, a: Optional[Mask], b: Optional[Mask]) -> Optional[Mask]:
    """Both masks at once: keep where both keep, biases added."""
    if a is None or b is None:
        return a or b
    keep = a.keep if b.keep is None else b.keep if a.keep is None else \
        cx.emit("where", [a.keep, b.keep, cx.const(np.array(False))])
    bias = a.bias if b.bias is None else b.bias if a.bias is None else cx.emit("add", [a.bias, b.bias])
    return Mask(keep, bias)


def attention(cx, q: Value, k: Value, v: Value, mask: Optional[Mask] = None, scale=None,
              zero_empty_rows: bool = False) -> tuple:
    """softmax(q·kᵀ·scale + bias) over the keys `mask.keep` keeps, over the last two dims;
    a query that may attend to nothing gets NaN, or 0 with `zero_empty_rows` (sdpa's).
    Returns (output, attention probabilities)."""
    depth = q.type.shape[-1]
    scale = 1.0 / math.sqrt(depth) if scale is None else scale
    perm = list(range(cx.rank(k)))
    perm[-2:] = perm[-1], perm[-2]
    scores = binary(cx, "mul", cx.emit("matmul", [q, cx.emit("transpose", [k], perm=perm)]), float(scale))
    if mask is not None and mask.bias is not None:
        scores = cx.emit("add", [scores, mask.bias])
    if mask is not None and mask.keep is not None:
        probs = cx.emit("masked_softmax", [scores, mask.keep], axis=-1, fill=-math.inf,
                        zero_empty_rows=zero_empty_rows)
    else:
        probs = cx.emit("softmax", [scores], axis=-1)
    return cx.emit("matmul", [probs, v]), probs


def causal_mask(cx, q: Value, k: Value) -> Mask:
    """Row i attends to columns j <= i (top-left aligned, as torch's is_causal); built at
    run time from the sequence lengths when one of them is dynamic."""
    length, source = q.type.shape[-2], k.type.shape[-2]
    if isinstance(length, int) and isinstance(source, int):
        return Mask(keep=cx.const(np.tril(np.ones((length, source), dtype=bool))))
    zero, one = cx.i64(0), cx.i64(1)

    def positions(v: Value, axis: int) -> Value:
        n = cx.dim(v, -2)
        return cx.emit("unsqueeze", [cx.emit("range", [zero, n if isinstance(n, Value) else cx.i64(n), one])],
                       axes=[axis])

    return Mask(keep=cx.emit("less_equal", [positions(k, 0), positions(q, 1)]))


@converts(F.scaled_dot_product_attention, aten.scaled_dot_product_attention)
def scaled_dot_product_attention(cx, q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 enable_gqa=False):
    if enable_gqa:
        raise cx.error("grouped-query attention (enable_gqa) is not supported")
    mask = None if attn_mask is None else Mask.of(cx, attn_mask, cx.dtype(q), true_means_masked=False)
    if is_causal:
        mask = causal_mask(cx, q, k)
    return attention(cx, q, k, v, mask, scale, zero_empty_rows=True)[0]


@converts_module(nn.MultiheadAttention)
def multihead_attention(cx, m: nn.MultiheadAttention, query, key, value, key_padding_mask=None, need_weights=True,
                        attn_mask=None, average_attn_weights=True, is_causal=False):
    if m.bias_k is not None or m.add_zero_attn:
        raise cx.error("MultiheadAttention with add_bias_kv or add_zero_attn is not supported")
    if cx.rank(query) != 3:
        raise cx.error("MultiheadAttention on unbatched (2-D) inputs is not supported")
    self_attention = query is key and key is value
    if not m.batch_first:  # work in [batch, seq, embed]
        query, key, value = (cx.emit("transpose", [t], perm=[1, 0, 2]) for t in (query, key, value))
    q, k, v = _project(cx, m, query, key, value, self_attention)
    heads, depth = m.num_heads, m.head_dim
    split = [cx.emit("transpose", [cx.emit("reshape", [t, cx.i64([0, 0, heads, depth])])], perm=[0, 2, 1, 3])
             for t in (q, k, v)]
    dtype = cx.dtype(q)
    mask = None
    if attn_mask is not None:
        mask = Mask.of(cx, attn_mask, dtype, true_means_masked=True)
        if cx.rank(attn_mask) == 3:  # [batch*heads, L, S]
            mask = mask.apply(lambda t: cx.emit("reshape", [t, cx.shape_operand(
                [-1, heads, cx.dim(t, 1), cx.dim(t, 2)])]))
    if key_padding_mask is not None:  # [batch, S] -> [batch, 1, 1, S]
        padding = Mask.of(cx, key_padding_mask, dtype, true_means_masked=True)
        mask = combine(cx, mask, padding.apply(lambda t: cx.emit("unsqueeze", [t], axes=[1, 2])))
    out, probs = attention(cx, *split, mask)
    out = cx.emit("reshape", [cx.emit("transpose", [out], perm=[0, 2, 1, 3]), cx.i64([0, 0, m.embed_dim])])
    path = cx.node.target
    out_bias = cx.parameter(f"{path}.out_proj.bias") if m.out_proj.bias is not None else None
    out = cx.emit("linear", [out, cx.parameter(f"{path}.out_proj.weight"), out_bias])
    if not m.batch_first:
        out = cx.emit("transpose", [out], perm=[1, 0, 2])
    if not need_weights:
        return [out, None]
    return [out, cx.emit("reduce_mean", [probs], axes=[1], keepdims=False) if average_attn_weights else probs]


def _project(cx, m: nn.MultiheadAttention, query, key, value, self_attention: bool) -> list:
    """The q/k/v input projections; one linear when q, k and v are the same tensor."""
    e = m.embed_dim
    bias = cx.module_param("in_proj_bias")
    if m._qkv_same_embed_dim and self_attention:
        weight = cx.module_param("in_proj_weight")
        return cx.emit("split", [cx.emit("linear", [query, weight, bias])], axis=-1, sizes=[e, e, e])
    biases = cx.emit("split", [bias], axis=0, sizes=[e, e, e]) if bias is not None else [None] * 3
    if m._qkv_same_embed_dim:
        weights = cx.emit("split", [cx.module_param("in_proj_weight")], axis=0, sizes=[e, e, e])
    else:
        weights = [cx.module_param(f"{n}_proj_weight") for n in "qkv"]
    return [cx.emit("linear", [t, w, b]) for t, w, b in zip((query, key, value), weights, biases)]
