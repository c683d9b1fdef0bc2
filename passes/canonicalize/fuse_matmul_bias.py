"""MatMul by a constant matrix (+ bias Add) -> linear.

ONNX exporters write a linear layer on a [..., K] input as MatMul(x, W[K, N]) followed
by Add(bias); the quantizer then sees an activation-by-weight matmul and a separate
quantized add (issue 11: BERT from ONNX had 48 qmatmul, 0 qlinear and 62 qadd, the torch
path 36 qlinear). This rule turns the MatMul into linear(x, Wᵀ); the bias then moves in
through canonicalize's `bias-add-into-producer`, which checks that it broadcasts along
the last axis alone and that nothing else reads the product. A matmul of two
activations (attention scores) or by a weight of another rank stays a matmul.
"""
from __future__ import annotations

import numpy as np

from qcompiler.ir.types import is_float
from qcompiler.rewrite import Const, Op, Rule, Var

from ..calibration.attrs import with_result_calibration


def _matmul_ok(m) -> bool:
    x, w = m["x"], m["w"]
    return is_float(x.type) and is_float(w.type) and w.type.dtype == x.type.dtype


def _transposed(b, m):
    """Wᵀ as a constant, one per weight: matmuls sharing a weight (tied layers) share
    its transpose instead of storing and quantizing a copy each."""
    source = m["w"].producer
    cached = source.meta.get("transposed")
    if cached is not None and cached.producer is not None and cached.producer.graph is m.graph:
        return cached
    source.meta["transposed"] = b.constant(np.ascontiguousarray(m.array("w").T), origin=source.attrs.get("origin"))
    return source.meta["transposed"]


def _linear(b, m):
    return b.op("linear", [m["x"], _transposed(b, m)], with_result_calibration({}, m.root))


RULES = [
    Rule("matmul-to-linear", Op("matmul", Var("x"), Const("w", where=lambda a: a.ndim == 2)), _linear,
         condition=_matmul_ok),
]
