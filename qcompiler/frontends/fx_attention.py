"""Attention decomposed into catalog ops: scaled_dot_product_attention and
nn.MultiheadAttention (a leaf module: its forward is input checks around one fused
call that fx cannot see into, and its weights map directly)."""
from __future__ import annotations

import math

import numpy as np
import torch.nn as nn
import torch.nn.functional as F

from ..ir.core import Value
from ..ir.types import numpy_dtype
from .fx_ops_math import binary
from .fx_table import aten, converts, converts_module


def attention(cx, q: Value, k: Value, v: Value, mask=None, scale=None) -> tuple:
    """softmax(q·kᵀ·scale + mask)·v over the last two dims; `mask` is additive.
    Returns (output, attention probabilities)."""
    depth = q.type.shape[-1]
    scale = 1.0 / math.sqrt(depth) if scale is None else scale
    perm = list(range(cx.rank(k)))
    perm[-2:] = perm[-1], perm[-2]
    scores = binary(cx, "mul", cx.emit("matmul", [q, cx.emit("transpose", [k], perm=perm)]), float(scale))
    if mask is not None:
        scores = cx.emit("add", [scores, mask])
    probs = cx.emit("softmax", [scores], axis=-1)
    return cx.emit("matmul", [probs, v]), probs


def additive_mask(cx, mask: Value, dtype: str, true_means_masked: bool) -> Value:
    if cx.dtype(mask) != "bool":
        return cx.cast(mask, dtype)
    blocked, open_ = cx.scalar(-np.inf, dtype), cx.scalar(0.0, dtype)
    return cx.emit("where", [mask, blocked, open_] if true_means_masked else [mask, open_, blocked])


def causal_mask(cx, q: Value, k: Value, dtype: str) -> Value:
    """Row i attends to columns j <= i (top-left aligned, as torch's is_causal); built at
    run time from the sequence lengths when one of them is dynamic."""
    length, source = q.type.shape[-2], k.type.shape[-2]
    if isinstance(length, int) and isinstance(source, int):
        above = np.triu(np.ones((length, source), dtype=bool), k=1)
        return cx.const(np.where(above, -np.inf, 0.0).astype(numpy_dtype(dtype)))
    zero, one = cx.i64(0), cx.i64(1)

    def positions(v: Value, axis: int) -> Value:
        n = cx.dim(v, -2)
        return cx.emit("unsqueeze", [cx.emit("range", [zero, n if isinstance(n, Value) else cx.i64(n), one])],
                       axes=[axis])

    above = cx.emit("greater", [positions(k, 0), positions(q, 1)])
    return cx.emit("where", [above, cx.scalar(-np.inf, dtype), cx.scalar(0.0, dtype)])


@converts(F.scaled_dot_product_attention, aten.scaled_dot_product_attention)
def scaled_dot_product_attention(cx, q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 enable_gqa=False):
    if enable_gqa:
        raise cx.error("grouped-query attention (enable_gqa) is not supported")
    dtype = cx.dtype(q)
    mask = None if attn_mask is None else additive_mask(cx, attn_mask, dtype, true_means_masked=False)
    if is_causal:
        mask = causal_mask(cx, q, k, dtype)
    return attention(cx, q, k, v, mask, scale)[0]


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
        mask = additive_mask(cx, attn_mask, dtype, true_means_masked=True)
        if cx.rank(mask) == 3:  # [batch*heads, L, S]
            mask = cx.emit("reshape", [mask, cx.shape_operand([-1, heads, cx.dim(mask, 1), cx.dim(mask, 2)])])
    if key_padding_mask is not None:  # [batch, S] -> [batch, 1, 1, S]
        padding = cx.emit("unsqueeze", [additive_mask(cx, key_padding_mask, dtype, True)], axes=[1, 2])
        mask = padding if mask is None else cx.emit("add", [mask, padding])
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
