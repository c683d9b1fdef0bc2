"""Which constants are weights of quantizable ops, and along which axis their output
channels lie (the axis per-channel ranges and scales are taken along)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional

from qcompiler.ir.core import Graph, Node, Value
from qcompiler.ir.types import is_float


@dataclass(frozen=True)
class WeightUse:
    weight: Value
    consumer: Node
    axis: Optional[int]  # output-channel axis of the weight; None: per tensor only


def _channel_axis(node: Node, operand: int, rank: int) -> Optional[int]:
    op = node.op
    if op in ("conv1d", "conv2d", "linear"):
        return 0 if operand == 1 else None
    if op == "conv_transpose2d":
        return 1 if operand == 1 else None  # w: [Cin, Cout/groups, kh, kw]
    if op == "gemm":
        if operand == 0:  # a: [M, K], or [K, M] transposed: rows of the result
            return 1 if node.attrs.get("trans_a", False) else 0
        if operand == 1:  # b: [K, N], or [N, K] transposed: columns of the result
            return 0 if node.attrs.get("trans_b", False) else 1
        return None
    if op == "matmul" and rank >= 2:
        return rank - 2 if operand == 0 else rank - 1
    return None


_WEIGHT_OPERANDS = {"conv1d": (1,), "conv2d": (1,), "conv_transpose2d": (1,), "linear": (1,),
                    "gemm": (0, 1), "matmul": (0, 1)}


def weight_uses(graph: Graph) -> Iterator[WeightUse]:
    """Every (constant float operand, quantizable consumer) pair, in graph order."""
    for node in graph.nodes:
        for i in _WEIGHT_OPERANDS.get(node.op, ()):
            v = node.inputs[i] if i < len(node.inputs) else None
            if v is None or graph.const_value(v) is None or not is_float(v.type):
                continue
            yield WeightUse(v, node, _channel_axis(node, i, len(v.type.shape)))
