"""Decomposed LayerNorm -> layer_norm.

PaddlePaddle (and PyTorch below opset 17, or a hand-written LayerNorm) export

    mean = ReduceMean(x, axes);  d = x - mean
    var  = ReduceMean(Pow(d, 2) | Mul(d, d), axes)
    y    = d / Sqrt(var + eps)  |  d * Reciprocal(Sqrt(var + eps))  |  d * Rsqrt(var + eps)
           (Sqrt also as Pow(., 0.5), Rsqrt as Pow(., -0.5))
    y    = y * gamma + beta

Quantizing every step clips the statistics (KL kept PP-OCRv4 rec's squared deviations at
a third of their range, issue 10); one layer_norm keeps them in float.
It is formed only when both means reduce the same trailing axes with keepdims, eps is a
constant >= 0 added before the square root (sqrt(var) + eps is another function) and
nothing outside reads an intermediate; gamma and beta join it only when they are
constants that broadcast along the normalized dims alone.
"""
from __future__ import annotations

import numpy as np

from qcompiler.ir.ops.infer import plain
from qcompiler.ir.types import is_float, numpy_dtype
from qcompiler.rewrite import Const, Op, Rule, Var

from ..calibration.attrs import with_result_calibration
from .fusion_patterns import AnyOf, intermediates_read_only_inside, scalar

x = Var("x")
centred = Op("sub", x, Op("reduce_mean", x, name="mean"), name="centred")
square = AnyOf(Op("pow", centred, Const(value=2.0)), Op("mul", centred, centred))
eps = Const("eps", where=lambda a: scalar(a) and a.item() >= 0)
var_plus_eps = Op("add", Op("reduce_mean", square, name="var"), eps)
std = AnyOf(Op("sqrt", var_plus_eps), Op("pow", var_plus_eps, Const(value=0.5)))
inv_std = AnyOf(Op("reciprocal", std), Op("rsqrt", var_plus_eps), Op("pow", var_plus_eps, Const(value=-0.5)))


def _normalized_count(m):
    """How many trailing dims both means reduce (layer_norm's axis is minus that), or None."""
    rank = m["x"].type.rank
    axes = []
    for node in (m["mean"], m["var"]):
        if not node.attrs.get("keepdims", True):
            return None
        listed = node.attrs.get("axes")
        axes.append(sorted(a % rank for a in listed) if listed is not None else list(range(rank)))
    if axes[0] != axes[1] or not axes[0] or axes[0] != list(range(rank - len(axes[0]), rank)):
        return None
    return len(axes[0])


def _normalization_ok(m) -> bool:
    return is_float(m["x"].type) and m["x"].type.rank >= 1 and _normalized_count(m) is not None \
        and intermediates_read_only_inside(m)


def _layer_norm(b, m):
    attrs = {"axis": -_normalized_count(m), "eps": float(m.array("eps").item())}
    return b.op("layer_norm", [m["x"]], with_result_calibration(attrs, m.root))


# --- gamma and beta -----------------------------------------------------------------------

def _parameter(m, name):
    """The constant as an array of exactly the normalized dims, or None when it does not
    broadcast along them alone (or they are not static)."""
    ln, array = m["ln"], m.array(name)
    x = plain(ln.inputs[0].type)
    normalized = x.shape[ln.attrs.get("axis", -1) % x.rank:]
    if not all(isinstance(d, int) for d in normalized) or array.dtype != numpy_dtype(x.dtype):
        return None
    extra = array.ndim - len(normalized)
    if extra > 0:
        if any(d != 1 for d in array.shape[:extra]):
            return None
        array = array.reshape(array.shape[extra:])
    try:
        return np.ascontiguousarray(np.broadcast_to(array, normalized))
    except ValueError:
        return None


def _operand(ln, i):
    return ln.inputs[i] if len(ln.inputs) > i else None


def _can_take(m, name, slot) -> bool:
    ln = m["ln"]
    later = [_operand(ln, i) for i in range(slot, 3)]
    return all(v is None for v in later) and _parameter(m, name) is not None


def _with_parameter(b, m, name, slot):
    ln = m["ln"]
    value = b.constant(_parameter(m, name), origin=m[name].producer.attrs.get("origin"))
    inputs = [ln.inputs[0], _operand(ln, 1)][:slot] + [value]
    return b.op("layer_norm", inputs, with_result_calibration(ln.attrs, m.root))


layer_norm = Op("layer_norm", name="ln", single_use=True)

RULES = [
    Rule("layer-norm-div", Op("div", centred, std), _layer_norm, condition=_normalization_ok),
    Rule("layer-norm-mul", Op("mul", centred, inv_std), _layer_norm, condition=_normalization_ok),
    Rule("layer-norm-scale", Op("mul", layer_norm, Const("gamma")), lambda b, m: _with_parameter(b, m, "gamma", 1),
         condition=lambda m: _can_take(m, "gamma", 1)),
    Rule("layer-norm-shift", Op("add", layer_norm, Const("beta")), lambda b, m: _with_parameter(b, m, "beta", 2),
         condition=lambda m: _can_take(m, "beta", 2)),
]
