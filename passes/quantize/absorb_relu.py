"""A relu right after an op that requantizes its result is free: quantizing that result
over the relu's range [0, hi] clamps every negative value to the zero point, which is
relu. The producer takes the relu's range (`q.absorbed = "relu"`), the relu then ties
to its operand (ties.py) and runs as the identity on stored integers — the residual
`add -> relu` of ResNets costs no lookup table.

A relu after a `concat` goes through it: relu(concat(a, b)) = concat(relu(a), relu(b)),
so each operand's producer absorbs it over its own [0, hi], and the concat, whose
operands share one scale (ties.py), ties over [0, max hi] instead of the union with the
operands' negative ranges. ShuffleNet's downsampling units concat a conv's signed
output with an average pool and then relu: tied over the signed union, both operands
lost 1.3-1.7x resolution against onnxruntime, which quantizes after the relu.

Only with asymmetric activations: there a range starting at 0 puts the zero point at
the storage minimum, so the requantization clamp is exactly relu.
"""
from __future__ import annotations

from typing import Optional

from qcompiler.ir.core import Graph, Node, Value
from qcompiler.ir.types import is_float

from .keep_float import kept_float
from .ranges import value_range

# ops whose integer form requantizes and clamps its result (docs/quantization.md, stage 3)
REQUANTIZING_OPS = frozenset({"add", "mul", "conv1d", "conv2d", "linear", "matmul", "avg_pool2d", "global_avg_pool"})


def absorb_relus(graph: Graph, activation_symmetric: bool) -> int:
    if activation_symmetric:
        return 0
    absorbed = 0
    for node in graph.nodes:
        if node.op != "relu" or not is_float(node.output.type):
            continue
        operand = node.inputs[0]
        relu_range = value_range(graph, node.output)
        if relu_range is None or value_range(graph, operand) is None or not _read_only_once(graph, operand):
            continue  # quantize reports a missing range where it needs it
        producer = operand.producer
        if _requantizes(producer):
            _absorb(producer, relu_range)
            absorbed += 1
        elif producer is not None and producer.op == "concat":
            absorbed += _absorb_through_concat(graph, producer)  # a bool: one relu
    return absorbed


def _absorb_through_concat(graph: Graph, concat: Node) -> bool:
    """Absorb a relu into every operand of `concat` that may be negative; nothing if one
    of them cannot absorb it (it would stay negative inside the tied range)."""
    pieces = [v for v in concat.inputs if v is not None and is_float(v.type)]
    ranges = [value_range(graph, v) for v in pieces]
    if any(r is None for r in ranges):
        return False
    signed = [v for v, r in zip(pieces, ranges) if r[0] < 0.0]
    if not signed or not all(_read_only_once(graph, v) and _requantizes(v.producer) for v in signed):
        return False
    for v, r in zip(pieces, ranges):
        if r[0] < 0.0:
            _absorb(v.producer, (0.0, max(0.0, r[1])))
    concat.attrs["q.range"] = [0.0, max(0.0, *(r[1] for r in ranges))]
    return True


def _requantizes(producer: Optional[Node]) -> bool:
    return (producer is not None and producer.op in REQUANTIZING_OPS and len(producer.outputs) == 1
            and not producer.attrs.get("activation") and not kept_float(producer))


def _read_only_once(graph: Graph, v: Value) -> bool:
    return len(v.uses) == 1 and not any(o is v for o in graph.outputs)


def _absorb(producer: Node, relu_range: tuple) -> None:
    producer.attrs["q.range"] = [max(0.0, relu_range[0]), relu_range[1]]
    producer.attrs["q.absorbed"] = "relu"
