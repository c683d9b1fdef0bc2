"""Elementwise arithmetic, comparisons and unary math onto the catalog.

Operands may be IR values or Python numbers; two Python numbers (sizes, scales) are
computed in Python, so shape arithmetic never reaches the graph unless it involves a
symbolic batch size. Mixed dtypes follow torch's promotion rules (`cx.promote`).
"""
from __future__ import annotations

import math
import operator

import torch

from ..ir.core import Value
from .fx_table import aten, converts

_FLOATS = ("f32", "f64", "f16", "bf16")


def _python(*xs) -> bool:
    return not any(isinstance(x, Value) for x in xs)


def binary(cx, op: str, a, b, dtype: str = None) -> Value:
    dtype = dtype or cx.promote(a, b)
    return cx.emit(op, [cx.value(a, dtype), cx.value(b, dtype)])


def _scaled(cx, b, alpha):
    if alpha == 1:
        return b
    return b * alpha if _python(b) else binary(cx, "mul", b, alpha)


@converts(operator.add, operator.iadd, torch.add, aten.add, methods=["add", "add_"])
def add(cx, a, b, alpha=1):
    if _python(a, b):
        return a + b * alpha
    if isinstance(b, int) and b == 0 and cx.promote(a, b) == cx.dtype(a) not in _FLOATS:
        return a  # size + 0 (a cache offset of 0) stays the size, and keeps its symbol
    return binary(cx, "add", a, _scaled(cx, b, alpha))


@converts(operator.sub, operator.isub, torch.sub, torch.subtract, aten.sub, aten.subtract, methods=["sub", "sub_"])
def sub(cx, a, b, alpha=1):
    if _python(a, b):
        return a - b * alpha
    return binary(cx, "sub", a, _scaled(cx, b, alpha))


@converts(torch.rsub, aten.rsub)
def rsub(cx, a, b, alpha=1):
    return sub(cx, b, a, alpha) if alpha == 1 else sub(cx, b, _scaled(cx, a, alpha))


@converts(operator.mul, operator.imul, torch.mul, torch.multiply, aten.mul, aten.multiply, methods=["mul", "mul_"])
def mul(cx, a, b):
    if _python(a, b):
        return a * b
    return binary(cx, "mul", a, b)


@converts(operator.truediv, operator.itruediv, torch.div, torch.true_divide, torch.divide, aten.div, aten.true_divide, aten.divide,
          methods=["div", "div_", "true_divide"])
def div(cx, a, b, rounding_mode=None):
    if _python(a, b):
        return {None: operator.truediv, "floor": operator.floordiv, "trunc": lambda p, q: math.trunc(p / q)}[rounding_mode](a, b)
    dtype = cx.promote(a, b)
    if rounding_mode is None:
        return binary(cx, "div", a, b, dtype if dtype in _FLOATS else "f32")
    if rounding_mode == "trunc" and dtype not in _FLOATS:
        return binary(cx, "div", a, b, dtype)  # integer div truncates toward zero
    exact = dtype if dtype in _FLOATS else "f64"
    q = binary(cx, "div", a, b, exact)
    if rounding_mode == "floor":
        q = cx.emit("floor", [q])
    else:
        q = cx.emit("where", [cx.emit("less", [q, cx.scalar(0, exact)]), cx.emit("ceil", [q]), cx.emit("floor", [q])])
    return cx.cast(q, dtype)


@converts(operator.floordiv, operator.ifloordiv, torch.floor_divide, aten.floor_divide, methods=["floor_divide"])
def floordiv(cx, a, b):
    return div(cx, a, b, rounding_mode="floor")


@converts(operator.pow, operator.ipow, torch.pow, aten.pow, methods=["pow", "pow_"])
def pow_(cx, a, b):
    if _python(a, b):
        return a ** b
    return binary(cx, "pow", a, b)


@converts(operator.mod, operator.imod, torch.remainder, aten.remainder, methods=["remainder", "remainder_"])
def remainder(cx, a, b):
    """Python's modulo (the sign of the divisor): a - floor(a / b) * b."""
    if _python(a, b):
        return a % b
    return sub(cx, a, mul(cx, floordiv(cx, a, b), b))


def _extremum(op: str):
    def handler(cx, a, b):
        return binary(cx, op, a, b)

    return handler


converts(torch.maximum, aten.maximum, methods=["maximum"])(_extremum("maximum"))
converts(torch.minimum, aten.minimum, methods=["minimum"])(_extremum("minimum"))


def _comparison(op: str, pyop):
    def handler(cx, a, b):
        if _python(a, b):
            return pyop(a, b)
        if op == "not_equal":
            return cx.emit("not", [binary(cx, "equal", a, b)])
        return binary(cx, op, a, b)

    return handler


for _op, _py, _names in [("equal", operator.eq, ("eq",)), ("not_equal", operator.ne, ("ne",)),
                         ("less", operator.lt, ("lt", "less")), ("greater", operator.gt, ("gt", "greater")),
                         ("less_equal", operator.le, ("le", "less_equal")),
                         ("greater_equal", operator.ge, ("ge", "greater_equal"))]:
    converts(_py, *(getattr(torch, n) for n in _names), *(getattr(aten, n) for n in _names),
             methods=list(_names))(_comparison(_op, _py))


@converts(operator.invert, torch.logical_not, torch.bitwise_not, aten.logical_not, aten.bitwise_not,
          methods=["logical_not", "bitwise_not"])
def logical_not(cx, x):
    if cx.dtype(x) != "bool":
        raise cx.error(f"bitwise not of {cx.dtype(x)} tensors is not in the op catalog")
    return cx.emit("not", [x])


def _logical(cx, op: str, a, b) -> Value:
    """and / or / xor of two operands taken as truth values."""
    a, b = cx.value(a, "bool"), cx.value(b, "bool")
    if op == "and":
        return cx.emit("where", [a, b, cx.scalar(False, "bool")])
    if op == "or":
        return cx.emit("where", [a, cx.scalar(True, "bool"), b])
    return cx.emit("not", [cx.emit("equal", [a, b])])


def _bitwise(op: str, pyop):
    """&, |, ^: the catalog has them on bool tensors only (masks), where they are logical."""
    def handler(cx, a, b):
        if _python(a, b):
            return pyop(a, b)
        dtypes = {cx.dtype(v) if isinstance(v, Value) else type(v).__name__ for v in (a, b)}
        if not dtypes <= {"bool"}:
            raise cx.error(f"bitwise {op} of {'/'.join(sorted(dtypes))} operands is not in the op catalog "
                           f"(only of bool masks)")
        return _logical(cx, op, a, b)

    return handler


def _logical_handler(op: str):
    def handler(cx, a, b):
        return _logical(cx, op, a, b)

    return handler


for _op, _py in [("and", operator.and_), ("or", operator.or_), ("xor", operator.xor)]:
    converts(_py, getattr(operator, f"i{_op}"), getattr(torch, f"bitwise_{_op}"), getattr(aten, f"bitwise_{_op}"),
             getattr(aten, f"__{_op}__"), getattr(aten, f"__i{_op}__"),
             methods=[f"bitwise_{_op}", f"bitwise_{_op}_", f"__{_op}__", f"__i{_op}__"])(_bitwise(_op, _py))
    converts(getattr(torch, f"logical_{_op}"), getattr(aten, f"logical_{_op}"),
             methods=[f"logical_{_op}", f"logical_{_op}_"])(_logical_handler(_op))


@converts(torch.where, aten.where)
def where(cx, cond, a, b):
    dtype = cx.promote(a, b)
    return cx.emit("where", [cx.cast(cond, "bool"), cx.value(a, dtype), cx.value(b, dtype)])


@converts(methods=["where"])
def where_method(cx, x, cond, other):
    return where(cx, cond, x, other)


@converts(torch.masked_fill, aten.masked_fill, methods=["masked_fill", "masked_fill_"])
def masked_fill(cx, x, mask, value):
    return where(cx, mask, value, x)


# op -> (Python function for Python numbers, torch spellings)
_UNARY = {
    "neg": (operator.neg, operator.neg, torch.neg, torch.negative, aten.neg, aten.negative),
    "abs": (abs, operator.abs, torch.abs, aten.abs),
    "sqrt": (math.sqrt, math.sqrt, torch.sqrt, aten.sqrt),
    "rsqrt": (lambda v: 1 / math.sqrt(v), torch.rsqrt, aten.rsqrt),
    "exp": (math.exp, math.exp, torch.exp, aten.exp),
    "log": (math.log, math.log, torch.log, aten.log),
    "erf": (math.erf, math.erf, torch.erf, torch.special.erf, aten.erf, aten.special_erf),
    "reciprocal": (lambda v: 1 / v, torch.reciprocal, aten.reciprocal),
    "floor": (math.floor, math.floor, torch.floor, aten.floor),
    "ceil": (math.ceil, math.ceil, torch.ceil, aten.ceil),
    "sin": (math.sin, math.sin, torch.sin, aten.sin),
    "cos": (math.cos, math.cos, torch.cos, aten.cos),
}


def _unary(op: str, pyfn):
    def handler(cx, x):
        if _python(x):
            return pyfn(x)
        return cx.emit(op, [cx.cast(x, cx.out_dtype())])

    return handler


for _op, (_py, *_targets) in _UNARY.items():
    converts(*_targets, methods=[_op, _op + "_"])(_unary(_op, _py))
