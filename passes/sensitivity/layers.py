"""The layers sensitivity is measured for, and Q_b(W): a layer's weights quantized at b bits.

A layer is a node with float constant weights the quantizer stores as integers (conv,
linear, gemm, matmul with a constant operand: `weight_uses`). Q_b(W) quantizes per
output channel with the range method the weight was calibrated with (`q.method` on the
constant, minmax if uncalibrated), so the error measured here is the error the
quantize pass will make at that width.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from qcompiler.ir.core import Graph, Node
from qcompiler.ir.types import STORAGE_RANGES, QuantType
from qcompiler.numerics.affine import fake_quantize, params_from_range

from ..calibration.weight_operands import WeightUse, weight_uses
from ..calibration.weight_ranges import weight_range


@dataclass(frozen=True)
class Layer:
    node: Node
    weights: tuple  # WeightUse per constant weight operand of the node

    @property
    def name(self) -> str:
        return self.node.outputs[0].name

    @property
    def params(self) -> int:
        return sum(math.prod(use.weight.type.shape) for use in self.weights)


def quantizable_layers(graph: Graph) -> list:
    """Every node with float constant weights, in graph order."""
    by_node: dict = {}
    for use in weight_uses(graph):
        by_node.setdefault(id(use.consumer), []).append(use)
    return [Layer(uses[0].consumer, tuple(uses)) for uses in by_node.values()]


def weight_bit_widths() -> list:
    """Widths Q_b supports: those of the signed integer storage types."""
    return sorted(int(s[1:]) for s in STORAGE_RANGES if s.startswith("i"))


def quantized_weight(graph: Graph, use: WeightUse, bits: int, symmetric: bool) -> np.ndarray:
    """Q_b(W) of one weight operand, as float32."""
    array = np.asarray(graph.const_value(use.weight), np.float32)
    return fake_quantize(array, weight_type(graph, use, bits, symmetric))


def weight_type(graph: Graph, use: WeightUse, bits: int, symmetric: bool) -> QuantType:
    """The per-channel type Q_b stores one weight operand with."""
    array = np.asarray(graph.const_value(use.weight), np.float32)
    method = use.weight.producer.attrs.get("q.method", "minmax")
    lo, hi = weight_range(array, method, bits, symmetric, use.axis)
    scale, zero_point = params_from_range(lo, hi, f"i{bits}", symmetric)
    return QuantType(f"i{bits}", "f32", array.shape, scale, zero_point, axis=use.axis)
