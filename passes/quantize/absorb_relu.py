"""A relu right after an op that requantizes its result is free: quantizing that result
over the relu's range [0, hi] clamps every negative value to the zero point, which is
relu. The producer takes the relu's range (`q.absorbed = "relu"`), the relu then ties
to its operand (ties.py) and runs as the identity on stored integers — the residual
`add -> relu` of ResNets costs no lookup table.

Only with asymmetric activations: there a range starting at 0 puts the zero point at
the storage minimum, so the requantization clamp is exactly relu.
"""
from __future__ import annotations

from qcompiler.ir.core import Graph
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
        producer = operand.producer
        if (producer is None or producer.op not in REQUANTIZING_OPS or len(producer.outputs) != 1
                or len(operand.uses) != 1 or any(o is operand for o in graph.outputs)
                or producer.attrs.get("activation") or kept_float(producer)):
            continue
        relu_range = value_range(graph, node.output)
        if relu_range is None or value_range(graph, operand) is None:
            continue  # quantize reports the missing range where it needs it
        producer.attrs["q.range"] = [max(0.0, relu_range[0]), relu_range[1]]
        producer.attrs["q.absorbed"] = "relu"
        absorbed += 1
    return absorbed
