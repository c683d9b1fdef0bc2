"""fold-bn: fold an inference batch_norm into the conv / linear that feeds it.

    batch_norm(conv(x, w, b)) = conv(x, w * s, (b - mean) * s + beta),  s = gamma / sqrt(var + eps)

`s` scales output channels: axis 0 of conv1d/conv2d/linear weights ([out, in/g, k...]),
and for conv_transpose2d ([in, out/g, kh, kw]) the second axis within each group.
The conv's result must have no other reader: they would still need the unnormalized
value, and folding would then compute the conv twice. Per-channel Mul / Add by constants
around the batch norm (or after a conv without one) fold too: fold_affine.py.
"""
from __future__ import annotations

import numpy as np

from qcompiler.ir.types import TensorType
from qcompiler.passmanager import PassResult, graph_pass
from qcompiler.rewrite import Const, Op, Rule, Var, apply_rules

from ..calibration.attrs import with_result_calibration
from . import fold_affine
from .fold_affine import channel_scale

PRODUCERS = ("conv1d", "conv2d", "conv_transpose2d", "linear")

PATTERN = Op("batch_norm",
             Op(PRODUCERS, Var("x"), Const("w"), Var("b", optional=True), name="conv", single_use=True,
                attrs={"activation": None}),
             Const("gamma"), Const("beta"), Const("mean"), Const("var"))


def _foldable(m) -> bool:
    conv = m["conv"]
    if not isinstance(m["w"].type, TensorType) or m["w"].type.dtype not in ("f32", "f64", "f16"):
        return False  # a quantized weight is folded before quantization, not after
    if m["b"] is not None and m.graph.const_value(m["b"]) is None:
        return False
    # batch_norm normalizes axis 1: that is linear's feature axis only for [N, features]
    return conv.op != "linear" or conv.output.type.rank == 2


def _fold(b, m):
    conv, bn = m["conv"], m.root
    w = m.array("w")
    eps = float(bn.attrs.get("eps", 1e-5))
    gamma, beta, mean, var = (m.array(k).astype(np.float64).reshape(-1) for k in ("gamma", "beta", "mean", "var"))
    scale = gamma / np.sqrt(var + eps)
    bias = m.array("b").astype(np.float64).reshape(-1) if m["b"] is not None else np.zeros_like(mean)
    new_w = channel_scale(w.astype(np.float64), scale, conv.op, int(conv.attrs.get("groups", 1))).astype(w.dtype)
    new_b = ((bias - mean) * scale + beta).astype(w.dtype)
    w_origin = m["w"].producer.attrs.get("origin")
    b_origin = (m["b"] if m["b"] is not None else m["beta"]).producer.attrs.get("origin")
    return b.op(conv.op, [m["x"], b.constant(new_w, origin=w_origin), b.constant(new_b, origin=b_origin)],
                with_result_calibration(conv.attrs, bn))


RULES = [Rule("fold-bn", PATTERN, _fold, condition=_foldable)] + fold_affine.RULES


@graph_pass("fold-bn")
def fold_bn(graph, ctx) -> PassResult:
    hits = apply_rules(graph, RULES)
    return PassResult(bool(hits), hits)
