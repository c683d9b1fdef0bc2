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
from qcompiler.numerics.affine import dequantize, params_for_levels, quantize

from ..calibration.quant_error import signed_levels
from ..calibration.weight_operands import WeightUse, weight_uses
from ..calibration.weight_ranges import weight_range
from ..quantize.choices import WEIGHT_STORAGE


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
    """Widths Q_b supports: quantize's weight widths (2 to 8 bits) and the wider signed storage types."""
    return sorted({b for b in WEIGHT_STORAGE if b > 1} | {int(s[1:]) for s in STORAGE_RANGES if s.startswith("i")})


def quantized_weight(graph: Graph, use: WeightUse, bits: int, symmetric: bool) -> np.ndarray:
    """Q_b(W) of one weight operand, as float32: on the b-bit grid, in its container."""
    array = np.asarray(graph.const_value(use.weight), np.float32)
    t = weight_type(graph, use, bits, symmetric)
    return dequantize(np.clip(quantize(array, t), *signed_levels(bits)), t)


def weight_type(graph: Graph, use: WeightUse, bits: int, symmetric: bool) -> QuantType:
    """The per-channel type Q_b stores one weight operand with (a width without a storage
    type of its own in the container quantize uses, its scale for the width's levels)."""
    array = np.asarray(graph.const_value(use.weight), np.float32)
    method = use.weight.producer.attrs.get("q.method", "minmax")
    lo, hi = weight_range(array, method, bits, symmetric, use.axis)
    scale, zero_point = params_for_levels(lo, hi, *signed_levels(bits), symmetric)
    return QuantType(WEIGHT_STORAGE.get(bits, f"i{bits}"), "f32", array.shape, scale, zero_point, axis=use.axis)
