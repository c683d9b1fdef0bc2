"""canonicalize: one spelling per computation, so later passes match one form.

Exporters spell the same activation many ways (PyTorch's hardswish reaches ONNX as
`x * clip(x + 3, 0, 6) / 6`, PaddlePaddle's as `x * hardsigmoid(x)` or with a multiply
by 1/6); this rule set turns them into the catalog op, drops no-ops, collapses chains
of layout ops and moves a separately added bias into its conv / linear (run it after
fold-constants, which turns exported bias reshapes into constants). Decomposed
LayerNorm and GELU and MatMul by a constant matrix become layer_norm, gelu and linear
(fuse_layer_norm.py, fuse_gelu.py, fuse_matmul_bias.py). A softmax of attention scores
plus an additive mask becomes masked_softmax with a bool keep (masked_softmax.py).
"""
from __future__ import annotations

import math

import numpy as np

from qcompiler.ir.types import numpy_dtype
from qcompiler.passmanager import PassResult, graph_pass
from qcompiler.rewrite import Const, Op, Rule, RuleSet, Var, apply_rules

from ..calibration.attrs import with_result_calibration
from . import fuse_gelu, fuse_layer_norm, fuse_matmul_bias, masked_softmax


def near(target: float, tol: float = 1e-6):
    return lambda v: v is not None and abs(float(v) - target) <= tol


x = Var("x")
# relu6(x + 3): the shared core of hardswish and hardsigmoid(1/6, 0.5)
relu6_x_plus_3 = Op("relu6", Op("add", x, Const(value=3.0), single_use=True), single_use=True)
x_times_relu6 = Op("mul", x, relu6_x_plus_3, single_use=True)


def _hardswish(b, m):
    return b.op("hardswish", [m["x"]])


def _hardsigmoid(b, m):
    return b.op("hardsigmoid", [m["x"]], {"alpha": 1 / 6, "beta": 0.5})


# --- gemm -> linear -------------------------------------------------------------------

def _gemm_n(m) -> int:
    return m.root.output.type.shape[1]


def _gemm_bias_ok(m) -> bool:
    c = m["c"]
    if c is None or c.type.shape == (_gemm_n(m),):
        return True
    shape = m.graph.const_value(c)
    shape = None if shape is None else shape.shape
    # a constant C that is the same for every row can become a per-feature bias
    return shape is not None and len(shape) <= 2 and (len(shape) < 2 or shape[0] == 1) \
        and (not shape or shape[-1] in (1, _gemm_n(m)))


def _gemm_ok(m) -> bool:
    a = m["a"].type
    trans_b = m.root.attrs.get("trans_b", False)
    return a.rank == 2 and (trans_b or m.graph.const_value(m["b"]) is not None) and _gemm_bias_ok(m)


def _linear(b, m):
    w, c = m["b"], m["c"]
    if not m.root.attrs.get("trans_b", False):
        w = b.constant(np.ascontiguousarray(m.array("b").T), origin=w.producer.attrs.get("origin"))
    if c is not None and c.type.shape != (_gemm_n(m),):
        array = np.broadcast_to(m.array("c").reshape(-1), (_gemm_n(m),))
        c = b.constant(np.ascontiguousarray(array), origin=c.producer.attrs.get("origin"))
    return b.op("linear", [m["a"], w] + ([c] if c is not None else []))


# --- layout chains --------------------------------------------------------------------

def _direct_shape(m):
    """The shape operand that reshapes x straight to the outer result (an existing value
    or an array to make a constant of), or None."""
    s2 = m.graph.const_value(m["s2"])
    # ONNX reshape copies a 0 from its input; the input changes here, so a 0 would change meaning
    if s2 is not None and 0 not in s2:
        return m["s2"]
    out = m.root.output.type
    if out.is_static and 0 not in out.shape:
        return np.array(out.shape, dtype=np.int64)
    return None


def _reshape_once(b, m):
    shape = _direct_shape(m)
    return b.op("reshape", [m["x"], b.constant(shape) if isinstance(shape, np.ndarray) else shape])


def _transpose_once(b, m):
    inner, outer = m["inner"].attrs["perm"], m.root.attrs["perm"]
    rank = len(outer)
    perm = [inner[p % rank] % rank for p in outer]
    if perm == list(range(rank)):
        return m["x"]
    return b.op("transpose", [m["x"]], {"perm": perm})


# --- bias as an operand ------------------------------------------------------------------
# Some exporters (PaddlePaddle) add a conv's bias as a separate, broadcast `add`.

BIASED = ("conv1d", "conv2d", "conv_transpose2d", "linear")


def _per_channel(m):
    """The added constant as one value per output channel, or None if it is not one."""
    k, y = m.array("k"), m["conv"].output.type
    axis = y.rank - 1 if m["conv"].op == "linear" else 1
    channels = y.shape[axis] if 0 <= axis < y.rank else None
    if not isinstance(channels, int) or k.ndim > y.rank or k.dtype != numpy_dtype(y.dtype):
        return None
    shape = (1,) * (y.rank - k.ndim) + k.shape
    if any(d != 1 for i, d in enumerate(shape) if i != axis) or shape[axis] not in (1, channels):
        return None
    bias = m["conv"].inputs[2] if len(m["conv"].inputs) > 2 else None
    if bias is not None and m.graph.const_value(bias) is None:
        return None
    return np.broadcast_to(k.reshape(-1), (channels,))


def _bias_into_producer(b, m):
    conv = m["conv"]
    old = conv.inputs[2] if len(conv.inputs) > 2 else None
    total = _per_channel(m) + (m.graph.const_value(old) if old is not None else 0)
    origin = (old if old is not None else m["k"]).producer.attrs.get("origin")
    bias = b.constant(np.ascontiguousarray(total), origin=origin)
    return b.op(conv.op, [conv.inputs[0], conv.inputs[1], bias], with_result_calibration(conv.attrs, m.root))


RULES = RuleSet([
    Rule("clip-to-relu6", Op("clip", x, attrs={"min": near(0.0), "max": near(6.0)}),
         lambda b, m: b.op("relu6", [m["x"]])),
    Rule("clip-to-relu", Op("clip", x, attrs={"min": near(0.0), "max": lambda v: v is None or v == math.inf}),
         lambda b, m: b.op("relu", [m["x"]])),
    Rule("hardswish-div", Op("div", x_times_relu6, Const(value=6.0)), _hardswish),
    Rule("hardswish-mul", Op("mul", x_times_relu6, Const(value=1 / 6)), _hardswish),
    Rule("hardsigmoid-div", Op("div", relu6_x_plus_3, Const(value=6.0)), _hardsigmoid),
    Rule("hardsigmoid-mul", Op("mul", relu6_x_plus_3, Const(value=1 / 6)), _hardsigmoid),
    Rule("hardswish-hardsigmoid",
         Op("mul", x, Op("hardsigmoid", x, attrs={"alpha": near(1 / 6), "beta": near(0.5)}, single_use=True)),
         _hardswish),
    Rule("gemm-to-linear",
         Op("gemm", Var("a"), Var("b"), Var("c", optional=True), attrs={"alpha": 1.0, "beta": 1.0, "trans_a": False}),
         _linear, condition=_gemm_ok),
    Rule("remove-identity", Op(("identity", "dropout"), x), lambda b, m: m["x"]),
    Rule("reshape-reshape", Op("reshape", Op("reshape", x, Var("s1")), Var("s2")), _reshape_once,
         condition=lambda m: _direct_shape(m) is not None),
    Rule("transpose-transpose", Op("transpose", Op("transpose", x, name="inner")), _transpose_once),
    Rule("bias-add-into-producer",
         Op("add", Op(BIASED, name="conv", single_use=True, attrs={"activation": None}), Const("k")),
         _bias_into_producer, condition=lambda m: _per_channel(m) is not None),
    *fuse_layer_norm.RULES,
    *fuse_gelu.RULES,
    *fuse_matmul_bias.RULES,
    *masked_softmax.RULES,
])


@graph_pass("canonicalize")
def canonicalize(graph, ctx) -> PassResult:
    hits = apply_rules(graph, RULES)
    return PassResult(bool(hits), hits)
