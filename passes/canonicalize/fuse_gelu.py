"""Decomposed GELU -> gelu.

ONNX has no Gelu before opset 20, so exporters write it out:

    erf form:   x * 0.5 * (1 + Erf(x / sqrt(2)))          (or x * (1/sqrt(2)) inside Erf)
    tanh form:  x * 0.5 * (1 + Tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))
                (x^3 as Pow(x, 3), x * x * x)

with the three factors x, 0.5 and the gate (1 + ...) multiplied in any order. One gelu
is one lookup table after lowering instead of five quantized steps. The constants must
be the exact ones (a sigmoid(1.702 x) approximation, or another cubic coefficient,
stays as written) and nothing outside may read an intermediate.
"""
from __future__ import annotations

import math

from qcompiler.ir.types import is_float
from qcompiler.rewrite import Const, Op, Rule, Var

from ..calibration.attrs import with_result_calibration
from .fusion_patterns import AnyOf, intermediates_read_only_inside, products

x = Var("x")
half = Const(value=0.5)

erf_argument = AnyOf(Op("div", x, Const(value=math.sqrt(2.0))), Op("mul", x, Const(value=1 / math.sqrt(2.0))))
erf_gate = Op("add", Op("erf", erf_argument), Const(value=1.0))

x_cubed = AnyOf(Op("pow", x, Const(value=3.0)), Op("mul", Op("mul", x, x), x))
tanh_argument = Op("mul", Op("add", x, Op("mul", x_cubed, Const(value=0.044715))), Const(value=math.sqrt(2 / math.pi)))
tanh_gate = Op("add", Op("tanh", tanh_argument), Const(value=1.0))


def _gelu_ok(m) -> bool:
    return is_float(m["x"].type) and intermediates_read_only_inside(m)


def _gelu(attrs: dict):
    def replace(b, m):
        return b.op("gelu", [m["x"]], with_result_calibration(attrs, m.root))

    return replace


# named by the factor multiplied last: (x * gate) * 0.5, (x * 0.5) * gate, x * (gate * 0.5)
_ORDERS = ("half-last", "gate-last", "x-last")

RULES = [
    Rule(f"gelu-{form}-{order}", root, _gelu(attrs), condition=_gelu_ok)
    for form, gate, attrs in (("erf", erf_gate, {}), ("tanh", tanh_gate, {"approximate": "tanh"}))
    for order, root in zip(_ORDERS, products(x, gate, half))
]
