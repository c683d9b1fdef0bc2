"""Converters for elementwise ONNX ops and activations."""
from __future__ import annotations

import numpy as np

from .onnx_ops import OnnxNode, Unsupported, converter, normalize_axis

UNARY = {
    "Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "HardSwish": "hardswish", "Softplus": "softplus",
    "Neg": "neg", "Abs": "abs", "Sqrt": "sqrt", "Exp": "exp", "Log": "log", "Erf": "erf",
    "Reciprocal": "reciprocal", "Floor": "floor", "Ceil": "ceil", "Sin": "sin", "Cos": "cos",
    "Not": "not", "Identity": "identity", "IsNaN": "isnan",
}
BINARY = {
    "Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div", "Pow": "pow", "Equal": "equal",
    "Less": "less", "Greater": "greater", "LessOrEqual": "less_equal", "GreaterOrEqual": "greater_equal",
}
# variadic ONNX ops folded into a chain of binary catalog ops
VARIADIC = {"Max": "maximum", "Min": "minimum", "Sum": "add"}


@converter(*UNARY)
def unary(n: OnnxNode):
    return [n.add(UNARY[n.op_type], [n.input(0)])]


@converter(*BINARY)
def binary(n: OnnxNode):
    return [n.add(BINARY[n.op_type], [n.input(0), n.input(1)])]


@converter(*VARIADIC)
def variadic(n: OnnxNode):
    acc = n.input(0)
    for i, v in enumerate(n.inputs[1:]):
        acc = n.add(VARIADIC[n.op_type], [acc, v], helper=i < len(n.inputs) - 2)
    return [acc if len(n.inputs) > 1 else n.add("identity", [acc])]


@converter("And", "Or", "Xor")
def logical(n: OnnxNode):
    """The catalog spells the boolean ops with where / equal (ONNX gives them bools only)."""
    a, b = n.input(0), n.input(1)
    if n.op_type == "Xor":
        return [n.add("not", [n.add("equal", [a, b], helper=True)])]
    decided = n.constant(np.array(n.op_type == "Or"))
    # And: b where a holds, else false; Or: true where a holds, else b
    return [n.add("where", [a, b, decided] if n.op_type == "And" else [a, decided, b])]


@converter("Where")
def where(n: OnnxNode):
    return [n.add("where", [n.input(0), n.input(1), n.input(2)])]


@converter("HardSigmoid")
def hardsigmoid(n: OnnxNode):
    # ONNX's defaults (0.2, 0.5) differ from the catalog's (1/6, 0.5): always pass both
    return [n.add("hardsigmoid", [n.input(0)], {"alpha": n.attr("alpha", 0.2), "beta": n.attr("beta", 0.5)})]


@converter("LeakyRelu")
def leaky_relu(n: OnnxNode):
    return [n.add("leaky_relu", [n.input(0)], {"alpha": n.attr("alpha", 0.01)})]


@converter("Elu")
def elu(n: OnnxNode):
    return [n.add("elu", [n.input(0)], {"alpha": n.attr("alpha", 1.0)})]


@converter("Gelu")
def gelu(n: OnnxNode):
    return [n.add("gelu", [n.input(0)], {"approximate": n.attr("approximate", "none")})]


@converter("PRelu")
def prelu(n: OnnxNode):
    x, slope = n.input(0), n.input(1)
    if slope.type.rank == 1 and x.type.rank >= 2 and slope.type.shape[0] != 1:
        # ONNX broadcasts a [k] slope against the last axis; the catalog's prelu reads a
        # 1-D slope as per-channel, so give it a leading axis to keep ONNX semantics
        slope = n.add("unsqueeze", [slope], {"axes": [0]}, helper=True)
    return [n.add("prelu", [x, slope])]


@converter("Clip")
def clip(n: OnnxNode):
    if n.opset < 11:
        lo, hi = n.attr("min"), n.attr("max")
    else:
        lo, hi = (_scalar(n, i, name) for i, name in ((1, "min"), (2, "max")))
    return [n.add("clip", [n.input(0)], {"min": lo, "max": hi})]


def _scalar(n: OnnxNode, i: int, what: str):
    if n.input(i) is None:
        return None
    v = n.require_const(i, what)
    if v.size != 1:
        raise Unsupported(f"{what} is not a scalar")
    return v.reshape(()).item()


@converter("Softmax", "LogSoftmax")
def softmax(n: OnnxNode):
    op = "softmax" if n.op_type == "Softmax" else "log_softmax"
    x = n.input(0)
    rank = x.type.rank
    axis = normalize_axis(n.attr("axis", -1 if n.opset >= 13 else 1), rank, n.where)
    if n.opset >= 13 or axis == rank - 1:
        return [n.add(op, [x], {"axis": axis - rank})]
    # before opset 13 the input is coerced to 2-D [prod(dims[:axis]), prod(dims[axis:])]
    # and normalized over the second dim: reshape, normalize, reshape back
    lead, tail = x.type.shape[:axis], x.type.shape[axis:]
    if all(isinstance(d, int) for d in tail):
        flat = [-1, int(np.prod(tail, dtype=np.int64))]
    elif all(isinstance(d, int) for d in lead):
        flat = [int(np.prod(lead, dtype=np.int64)), -1]
    else:
        raise Unsupported(f"opset-{n.opset} softmax over axis {axis} needs static leading or trailing dims")
    two_d = n.add("reshape", [x, n.constant(np.array(flat, dtype=np.int64))], helper=True)
    y = n.add(op, [two_d], {"axis": -1}, helper=True)
    return [n.add("reshape", [y, n.add("shape", [x], helper=True)])]


@converter("Dropout")
def dropout(n: OnnxNode):
    n.only_first_output()
    if n.opset >= 12 and n.input(2) is not None:
        training = n.require_const(2, "training_mode")
        if bool(training.reshape(-1)[0]):
            raise Unsupported("training_mode is true")
    return [n.add("identity", [n.input(0)])]
