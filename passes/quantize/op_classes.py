"""How the quantizer sees each op: which ops run on integers after lowering, which
merely move stored integers around, and which of their operands are activations."""
from __future__ import annotations

from qcompiler.ir.core import Graph, Node
from qcompiler.ir.types import is_float

# ops the lowering turns into integer kernels (qconv, qlinear, qmatmul, qadd, qmul,
# qavg_pool, qlut for the elementwise activations, or a clamp for relu)
INTEGER_OPS = frozenset({
    "conv1d", "conv2d", "conv_transpose2d", "linear", "gemm", "matmul",
    "add", "mul", "concat", "avg_pool2d", "global_avg_pool",
    "relu", "relu6", "clip", "sigmoid", "tanh", "hardswish", "hardsigmoid", "silu", "gelu",
    "leaky_relu", "elu", "softplus",
})

# ops whose result holds the operand's stored integers unchanged (selected, reordered
# or reshaped; a max commutes with a monotonic quantizer; same_pad adds real zeros, which
# every affine type holds exactly), so it keeps its parameters
PASS_THROUGH_OPS = frozenset({
    "max_pool1d", "max_pool2d", "global_max_pool", "reshape", "flatten", "transpose",
    "squeeze", "unsqueeze", "identity", "slice", "split", "dropout", "gather", "same_pad",
})

# operands that are neither activations nor weights: biases stay float (the lowering
# quantizes them to int32 with scale s_in * s_w)
_FLOAT_OPERANDS = {"conv1d": (2,), "conv2d": (2,), "conv_transpose2d": (2,), "linear": (2,), "gemm": (2,)}


def activation_operands(graph: Graph, node: Node, weights: set) -> list:
    """(index, value) of the float operands of `node` that must be quantized as
    activations: everything but weights (ids in `weights`), biases and non-float values.
    Pass-through ops only carry their data operand."""
    keep = _FLOAT_OPERANDS.get(node.op, ())
    indices = [0] if node.op in PASS_THROUGH_OPS else range(len(node.inputs))
    out = []
    for i in indices:
        v = node.inputs[i] if i < len(node.inputs) else None
        if v is None or i in keep or id(v) in weights or not is_float(v.type):
            continue
        out.append((i, v))
    return out


def float_results(node: Node) -> list:
    return [v for v in node.outputs if is_float(v.type)]


def is_integer_capable(node: Node) -> bool:
    return node.op in INTEGER_OPS and bool(node.outputs) and all(is_float(v.type) for v in node.outputs)


def reduction_axis(node: Node, operand: int, rank: int):
    """The input-channel (reduction) axis of weight operand `operand` of `node`: the
    axis groups of N run along. None when there is none (a 1-D matmul operand)."""
    op = node.op
    if op in ("conv1d", "conv2d", "linear"):
        return 1
    if op == "conv_transpose2d":
        return 0  # w: [Cin, Cout/groups, kh, kw]
    if op == "gemm":
        transposed = node.attrs.get("trans_a" if operand == 0 else "trans_b", False)
        return (0 if transposed else 1) if operand == 0 else (1 if transposed else 0)
    if op == "matmul" and rank >= 2:
        return rank - 1 if operand == 0 else rank - 2
    return None
