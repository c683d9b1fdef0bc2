"""Elementwise ops: broadcasting arithmetic and comparisons, `where`, unary math, `cast`.

The simple ops are declared from tables (numpy function, torch function); each numpy
reference computes in the promoted dtype (see `dtypes.py`) so its result has exactly
the inferred dtype.
"""
from __future__ import annotations

import numpy as np
import scipy.special
import torch

from ..errors import VerifyError
from ..registry import Attr, op, torch_impl
from ..types import DTYPES, TensorType, numpy_dtype
from .dtypes import TORCH_DTYPES, is_float_dtype, np_promote, promote_types, torch_promote
from .infer import broadcast_shapes, plain


def _broadcast_to(dtype_rule):
    def infer(types, attrs, consts):
        ts = [plain(t) for t in types]
        return [TensorType(dtype_rule(ts), broadcast_shapes(*[t.shape for t in ts]))]

    return infer


_promoted = _broadcast_to(lambda ts: promote_types(ts, "elementwise op"))
_boolean = _broadcast_to(lambda ts: "bool")


def _np_binary(np_fn):
    def reference(a, b):
        dt = np_promote(a, b)
        return np.asarray(np_fn(a.astype(dt, copy=False), b.astype(dt, copy=False)))

    return reference


def _torch_binary(torch_fn):
    def implementation(a, b):
        dt = torch_promote(a, b)
        return torch_fn(a.to(dt), b.to(dt))

    return implementation


_ARITHMETIC = {
    "add": (np.add, torch.add),
    "sub": (np.subtract, torch.sub),
    "mul": (np.multiply, torch.mul),
    "maximum": (np.maximum, torch.maximum),
    "minimum": (np.minimum, torch.minimum),
}
_COMPARISONS = {
    "equal": (np.equal, torch.eq),
    "less": (np.less, torch.lt),
    "greater": (np.greater, torch.gt),
    "less_equal": (np.less_equal, torch.le),
    "greater_equal": (np.greater_equal, torch.ge),
}
for _name, (_np_fn, _torch_fn) in _ARITHMETIC.items():
    op(_name, inputs=["a", "b"], infer=_promoted, doc=f"numpy-broadcasting {_np_fn.__name__}")(_np_binary(_np_fn))
    torch_impl(_name)(_torch_binary(_torch_fn))
for _name, (_np_fn, _torch_fn) in _COMPARISONS.items():
    op(_name, inputs=["a", "b"], infer=_boolean, doc=f"broadcasting {_np_fn.__name__}, bool result")(_np_binary(_np_fn))
    torch_impl(_name)(_torch_binary(_torch_fn))


def _np_trunc_divide(a, b):
    # numpy floor-divides integers; ONNX Div truncates toward zero
    q = np.floor_divide(a, b)
    return q + ((np.remainder(a, b) != 0) & ((a < 0) != (b < 0))).astype(q.dtype)


@op("div", inputs=["a", "b"], infer=_promoted)
def div(a, b):
    """a / b; integer division truncates toward zero like ONNX Div."""
    dt = np_promote(a, b)
    a, b = a.astype(dt, copy=False), b.astype(dt, copy=False)
    return np.asarray(np.divide(a, b) if dt.kind == "f" else _np_trunc_divide(a, b))


@torch_impl("div")
def div_torch(a, b):
    dt = torch_promote(a, b)
    return torch.div(a.to(dt), b.to(dt), rounding_mode=None if dt.is_floating_point else "trunc")


def _pow_type(types, attrs, consts):
    a, b = plain(types[0]), plain(types[1])
    return [TensorType(a.dtype, broadcast_shapes(a.shape, b.shape))]


@op("pow", inputs=["a", "b"], infer=_pow_type)
def pow_(a, b):
    """a ** b with the dtype of the base, like ONNX Pow."""
    dt = np_promote(a, b)
    return np.asarray(np.power(a.astype(dt, copy=False), b.astype(dt, copy=False))).astype(a.dtype, copy=False)


@torch_impl("pow")
def pow_torch(a, b):
    dt = torch_promote(a, b)
    return torch.pow(a.to(dt), b.to(dt)).to(a.dtype)


def _where_type(types, attrs, consts):
    cond, a, b = (plain(t) for t in types)
    if cond.dtype != "bool":
        raise VerifyError(f"where: condition must be bool, got {cond.dtype}")
    return [TensorType(promote_types([a, b], "where"), broadcast_shapes(cond.shape, a.shape, b.shape))]


@op("where", inputs=["cond", "a", "b"], infer=_where_type)
def where(cond, a, b):
    """Elementwise select: a where cond, else b (all three broadcast)."""
    dt = np_promote(a, b)
    return np.where(cond, a.astype(dt, copy=False), b.astype(dt, copy=False))


@torch_impl("where")
def where_torch(cond, a, b):
    dt = torch_promote(a, b)
    return torch.where(cond, a.to(dt), b.to(dt))


def _unary_type(dtype_rule):
    def infer(types, attrs, consts):
        x = plain(types[0])
        return [TensorType(dtype_rule(x.dtype), x.shape)]

    return infer


def _keeps_ints(np_fn, torch_fn):
    """floor/ceil: the identity on integers (numpy would turn them into floats)."""
    return (lambda x: np_fn(x) if x.dtype.kind == "f" else x.copy(),
            lambda x: torch_fn(x) if x.is_floating_point() else x.clone())


# dtype-preserving unary ops
_SAME_DTYPE = {
    "neg": (np.negative, torch.neg),
    "abs": (np.abs, torch.abs),
    "floor": _keeps_ints(np.floor, torch.floor),
    "ceil": _keeps_ints(np.ceil, torch.ceil),
}
# transcendental ops: integer inputs compute in f32, as in torch
_FLOAT_RESULT = {
    "sqrt": (np.sqrt, torch.sqrt),
    "rsqrt": (lambda x: 1 / np.sqrt(x), torch.rsqrt),
    "exp": (np.exp, torch.exp),
    "log": (np.log, torch.log),
    "erf": (scipy.special.erf, torch.erf),
    "reciprocal": (np.reciprocal, torch.reciprocal),
    "sin": (np.sin, torch.sin),
    "cos": (np.cos, torch.cos),
}


def _np_unary(np_fn, to_float: bool):
    def reference(x):
        if to_float and x.dtype.kind != "f":
            x = x.astype(np.float32)
        return np.asarray(np_fn(x)).astype(x.dtype, copy=False)

    return reference


def _torch_unary_float(torch_fn):
    return lambda x: torch_fn(x if x.is_floating_point() else x.to(torch.float32))


for _name, (_np_fn, _torch_fn) in _SAME_DTYPE.items():
    op(_name, inputs=["x"], infer=_unary_type(lambda d: d), doc=f"elementwise {_name}")(_np_unary(_np_fn, False))
    torch_impl(_name)(_torch_fn)
for _name, (_np_fn, _torch_fn) in _FLOAT_RESULT.items():
    op(_name, inputs=["x"], infer=_unary_type(lambda d: d if is_float_dtype(d) else "f32"),
       doc=f"elementwise {_name}; integers compute in f32")(_np_unary(_np_fn, True))
    torch_impl(_name)(_torch_unary_float(_torch_fn))


@op("not", inputs=["x"], infer=_unary_type(lambda d: "bool"))
def logical_not(x):
    """Logical negation; any nonzero counts as true."""
    return np.logical_not(x)


@torch_impl("not")
def logical_not_torch(x):
    return torch.logical_not(x)


def _cast_type(types, attrs, consts):
    if attrs["to"] not in DTYPES:
        raise VerifyError(f"cast: unknown target dtype {attrs['to']!r}; expected one of {sorted(DTYPES)}")
    return [TensorType(attrs["to"], plain(types[0]).shape)]


def _round_to_bf16(x: np.ndarray) -> np.ndarray:
    """bf16 values held in f32 (numpy has no bf16): round to nearest even on the top 16 bits."""
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    rounded = (bits + (((bits >> 16) & 1) + np.uint32(0x7FFF))) & np.uint32(0xFFFF0000)
    return np.where(np.isnan(x), x, rounded.view(np.float32)).astype(np.float32)


@op("cast", inputs=["x"], attrs={"to": Attr("str", choices=tuple(sorted(DTYPES)))}, infer=_cast_type)
def cast(x, to):
    """Convert to IR dtype `to`; float -> int truncates toward zero."""
    if to == "bf16":
        return _round_to_bf16(x.astype(np.float32))
    return x.astype(numpy_dtype(to))


@torch_impl("cast")
def cast_torch(x, to):
    return x.to(TORCH_DTYPES[to])
