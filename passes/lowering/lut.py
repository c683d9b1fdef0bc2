"""Elementwise activations on 8-bit values become table lookups (qlut): the table is
the float op's own reference evaluated on every input storage value, so the lookup
equals dequantize -> op -> quantize exactly. A table that maps every value to itself
between equal types (relu on a range starting at 0, a clip wider than the range) is
dropped instead."""
from __future__ import annotations

from typing import Callable

import numpy as np

from qcompiler.ir.dense import Dense
from qcompiler.ir.registry import run_reference
from qcompiler.ir.types import QuantType
from qcompiler.numerics.affine import dequantize, quantize
from qcompiler.rewrite import Op, Rule

from .quant_params import per_tensor, same_params

LUT_OPS = ("sigmoid", "tanh", "hardswish", "hardsigmoid", "silu", "gelu", "relu", "relu6", "clip", "leaky_relu",
           "elu", "softplus")
LUT_BITS = 8


def lut_table(fn: Callable[[np.ndarray], np.ndarray], x: QuantType, out: QuantType) -> np.ndarray:
    """out storage of fn(real) for every x storage value from qmin to qmax."""
    real = dequantize(np.arange(x.qmin, x.qmax + 1), x)
    return quantize(fn(real), out)


def _lut_of(m) -> np.ndarray:
    node = m.root
    return lut_table(lambda r: run_reference(node.op, [r], node.attrs)[0], node.inputs[0].type, node.output.type)


def _lowerable(m) -> bool:
    return per_tensor(m.root.inputs[0].type, LUT_BITS) and per_tensor(m.root.output.type)


def _is_identity(m) -> bool:
    x = m.root.inputs[0].type
    return (_lowerable(m) and same_params(x, m.root.output.type)
            and np.array_equal(_lut_of(m), np.arange(x.qmin, x.qmax + 1)))


def lut_rules() -> list:
    return [
        Rule("identity-activation", Op(LUT_OPS), lambda b, m: m.root.inputs[0], condition=_is_identity),
        Rule("qlut", Op(LUT_OPS),
             lambda b, m: b.op("qlut", [m.root.inputs[0]], {"table": Dense(_lut_of(m))},
                               output_types=[m.root.output.type]),
             condition=_lowerable),
    ]
