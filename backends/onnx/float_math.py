"""Float emitters for elementwise ops and activations (the mirror image of
qcompiler/frontends/onnx_ops_math.py), and the fused activations of conv / linear."""
from __future__ import annotations

import numpy as np
import onnx_ir as ir

from qcompiler.ir.ops.dtypes import is_float_dtype, promote
from qcompiler.ir.ops.infer import plain
from qcompiler.ir.types import numpy_dtype

from .builder import onnx_dtype
from .emitters import FLOAT
from .opsets import MICROSOFT

UNARY = {
    "relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "softplus": "Softplus", "neg": "Neg", "abs": "Abs",
    "sqrt": "Sqrt", "exp": "Exp", "log": "Log", "erf": "Erf", "reciprocal": "Reciprocal", "sin": "Sin",
    "cos": "Cos",
}
BINARY = {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "maximum": "Max", "minimum": "Min"}
COMPARISONS = {"equal": "Equal", "less": "Less", "greater": "Greater", "less_equal": "LessOrEqual",
               "greater_equal": "GreaterOrEqual"}
# before opset 12 the non-strict comparisons are the negated strict ones
NEGATED = {"less_equal": "Greater", "greater_equal": "Less"}


def dtype_of(v) -> str:
    return plain(v.type).dtype


@FLOAT.register(*UNARY)
def unary(ctx, node):
    (x,) = node.inputs
    out = dtype_of(node.output)
    if node.op == "relu" and not is_float_dtype(out):  # ONNX Runtime has no integer Relu kernel
        return [clip(ctx, ctx.real(x), out, 0, None)]
    # sqrt, exp, ... of an integer compute in f32 (the catalog's rule)
    return [ctx.b.op(UNARY[node.op], [ctx.real_as(x, out)])]


@FLOAT.register("floor", "ceil")
def rounding(ctx, node):
    (x,) = node.inputs
    if not is_float_dtype(dtype_of(x)):
        return [ctx.real(x)]  # the identity on integers
    return [ctx.b.op(node.op.capitalize(), [ctx.real(x)])]


@FLOAT.register("rsqrt")
def rsqrt(ctx, node):
    x = ctx.real_as(node.inputs[0], dtype_of(node.output))
    return [ctx.b.op("Reciprocal", [ctx.b.op("Sqrt", [x])])]


@FLOAT.register("not")
def logical_not(ctx, node):
    (x,) = node.inputs
    return [ctx.b.op("Not", [ctx.real_as(x, "bool")])]


@FLOAT.register(*BINARY)
def binary(ctx, node):
    out = dtype_of(node.output)
    a, b = (ctx.real_as(v, out) for v in node.inputs)
    if node.op in ("maximum", "minimum") and ctx.opset < 12 and not is_float_dtype(out):
        # Max / Min take integers from opset 12 on; before, pick with a comparison
        return [ctx.b.op("Where", [ctx.b.op("Less" if node.op == "maximum" else "Greater", [a, b]), b, a])]
    return [ctx.b.op(BINARY[node.op], [a, b])]


@FLOAT.register("pow")
def power(ctx, node):
    a, b = node.inputs
    # ONNX Pow keeps the base's type; the catalog computes in the promoted type first
    common = promote(dtype_of(a), dtype_of(b))
    y = ctx.b.op("Pow", [ctx.real_as(a, common), ctx.real_as(b, common)])
    return [y if common == dtype_of(node.output) else ctx.b.op("Cast", [y], {"to": onnx_dtype(dtype_of(node.output))})]


@FLOAT.register(*COMPARISONS)
def comparison(ctx, node):
    common = promote(*(dtype_of(v) for v in node.inputs))
    operands = [ctx.real_as(v, common) for v in node.inputs]
    if ctx.opset < 12 and node.op in NEGATED:
        return [ctx.b.op("Not", [ctx.b.op(NEGATED[node.op], operands)])]
    return [ctx.b.op(COMPARISONS[node.op], operands)]


@FLOAT.register("where")
def where(ctx, node):
    cond, a, b = node.inputs
    out = dtype_of(node.output)
    if out == "bool":  # onnxruntime has no bool Where kernel (the frontends spell and/or as where)
        c, x, y = ctx.real(cond), ctx.real_as(a, out), ctx.real_as(b, out)
        return [ctx.b.op("Or", [ctx.b.op("And", [c, x]), ctx.b.op("And", [ctx.b.op("Not", [c]), y])])]
    return [ctx.b.op("Where", [ctx.real(cond), ctx.real_as(a, out), ctx.real_as(b, out)])]


@FLOAT.register("identity", "dropout")
def identity(ctx, node):
    return [ctx.real(node.inputs[0])]


def clip(ctx, x, dtype: str, lo, hi) -> ir.Value:
    """Clip with bounds of x's dtype; an absent bound is an empty input. Integers before
    opset 12 (Clip took floats only) are clamped with comparisons."""
    bounds = [None if b is None else ctx.b.constant(np.array(b, numpy_dtype(dtype))) for b in (lo, hi)]
    if ctx.opset < 12 and not is_float_dtype(dtype):
        for bound, beyond in zip(bounds, ("Less", "Greater")):
            if bound is not None:
                x = ctx.b.op("Where", [ctx.b.op(beyond, [x, bound]), bound, x])
        return x
    return ctx.b.op("Clip", [x, *bounds])


def hardswish(ctx, x, dtype: str) -> ir.Value:
    if ctx.opset >= 14:
        return ctx.b.op("HardSwish", [x])
    return ctx.b.op("Mul", [x, ctx.b.op("HardSigmoid", [x], {"alpha": 1 / 6, "beta": 0.5})])


def activation(ctx, x, dtype: str, name: str, *, lo=None, hi=None, alpha=None) -> ir.Value:
    """`x` through the activation `name` (the fused activations and their standalone ops)."""
    if name == "relu":
        return ctx.b.op("Relu", [x])
    if name == "relu6":
        return clip(ctx, x, dtype, 0.0, 6.0)
    if name == "clip":
        return x if lo is None and hi is None else clip(ctx, x, dtype, lo, hi)
    if name == "hardswish":
        return hardswish(ctx, x, dtype)
    if name == "sigmoid":
        return ctx.b.op("Sigmoid", [x])
    if name == "leaky_relu":
        return ctx.b.op("LeakyRelu", [x], {"alpha": float(0.01 if alpha is None else alpha)})
    raise ctx.error(f"unknown activation {name!r}")


def fused_activation(ctx, node, y) -> ir.Value:
    """Apply the node's fused activation attributes (fuse-activations) to its result."""
    name = node.attrs.get("activation")
    if name is None:
        return y
    return activation(ctx, y, dtype_of(node.output), name, lo=node.attrs.get("activation_min"),
                      hi=node.attrs.get("activation_max"), alpha=node.attrs.get("activation_alpha"))


@FLOAT.register("relu6", "hardswish", "leaky_relu", "clip")
def standalone_activation(ctx, node):
    x = node.inputs[0]
    attrs = node.attrs
    return [activation(ctx, ctx.real(x), dtype_of(x), node.op, lo=attrs.get("min"), hi=attrs.get("max"),
                       alpha=attrs.get("alpha"))]


@FLOAT.register("hardsigmoid")
def hardsigmoid(ctx, node):
    attrs = node.attrs
    return [ctx.b.op("HardSigmoid", [ctx.real(node.inputs[0])],
                     {"alpha": float(attrs.get("alpha", 1 / 6)), "beta": float(attrs.get("beta", 0.5))})]


@FLOAT.register("silu")
def silu(ctx, node):
    x = ctx.real(node.inputs[0])
    return [ctx.b.op("Mul", [x, ctx.b.op("Sigmoid", [x])])]


@FLOAT.register("elu")
def elu(ctx, node):
    return [ctx.b.op("Elu", [ctx.real(node.inputs[0])], {"alpha": float(node.attrs.get("alpha", 1.0))})]


@FLOAT.register("gelu")
def gelu(ctx, node):
    x = ctx.real(node.inputs[0])
    approximate = node.attrs.get("approximate", "none")
    if ctx.opset >= 20:
        return [ctx.b.op("Gelu", [x], {"approximate": approximate})]
    if ctx.form == "qoperator" and dtype_of(node.output) == "f32":
        # the qoperator form already runs only in onnxruntime: its one-kernel GELUs. Its own
        # fusion of the spelled-out formula misses here, because it first gives each consumer
        # of a DequantizeLinear (Div and Mul both read x) a copy, and then x is no common root.
        op = "FastGelu" if approximate == "tanh" else "Gelu"
        return [ctx.b.op(op, [x], domain=MICROSOFT)]
    dtype = numpy_dtype(dtype_of(node.output))
    c = lambda value: ctx.b.constant(np.array(value, dtype))  # noqa: E731
    if approximate == "tanh":  # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        cube = ctx.b.op("Mul", [ctx.b.op("Mul", [x, x]), x])
        inner = ctx.b.op("Mul", [ctx.b.op("Add", [x, ctx.b.op("Mul", [cube, c(0.044715)])]), c(np.sqrt(2 / np.pi))])
        gate = ctx.b.op("Tanh", [inner])
    else:  # 0.5 x (1 + erf(x / sqrt(2)))
        gate = ctx.b.op("Erf", [ctx.b.op("Div", [x, c(np.sqrt(2.0))])])
    return [ctx.b.op("Mul", [ctx.b.op("Mul", [x, c(0.5)]), ctx.b.op("Add", [gate, c(1.0)])])]


@FLOAT.register("prelu")
def prelu(ctx, node):
    x, slope = node.inputs
    s = ctx.real(slope)
    if slope.type.rank == 1 and x.type.rank >= 2:
        # the catalog reads a 1-D slope per channel (axis 1); ONNX broadcasts from the right
        s = ctx.b.op("Reshape", [s, ctx.b.ints([-1] + [1] * (x.type.rank - 2))])
    return [ctx.b.op("PRelu", [ctx.real(x), s])]


@FLOAT.register("softmax", "log_softmax")
def softmax(ctx, node):
    op = "Softmax" if node.op == "softmax" else "LogSoftmax"
    x = node.inputs[0]
    rank = x.type.rank
    axis = node.attrs.get("axis", -1) % rank
    if ctx.opset >= 13 or axis == rank - 1:
        return [ctx.b.op(op, [ctx.real(x)], {"axis": axis})]
    # before opset 13 Softmax normalizes over all dims from `axis` on: move the axis last
    perm = [d for d in range(rank) if d != axis] + [axis]
    inverse = [int(i) for i in np.argsort(perm)]
    y = ctx.b.op(op, [ctx.b.op("Transpose", [ctx.real(x)], {"perm": perm})], {"axis": rank - 1})
    return [ctx.b.op("Transpose", [y], {"perm": inverse})]
