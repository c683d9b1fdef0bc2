"""Biases that fit the accumulator: the lowering stores a conv / linear bias as int32 in
units of s_x · s_w[c], beside up to terms · max|x - zp| · max|w - zp| of products. A
channel whose weights are tiny next to its bias (or all zero, degenerate.py) would need
a bias beyond that headroom; its weight scale is raised until the bias fits, as
onnxruntime's quantizer does. The channel's weights get coarser, which matters little:
they are small next to the bias they are added to.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from qcompiler.ir.core import Graph
from qcompiler.ir.types import STORAGE_RANGES, is_float
from qcompiler.numerics.accumulator_bias import BIASED_PRODUCTS
from qcompiler.targets import Target

from ..calibration.weight_operands import WeightUse
from ..lowering.accumulator import bias_headroom
from ..lowering.quant_params import max_centered, per_tensor, scale_of

# float32 rounding of s_x · s_w and of the bias division stays far below this
MARGIN = 1 + 2.0 ** -16


def weight_term_bound(storage: str, symmetric: bool) -> int:
    """The largest |w - zp| the lowering's accumulator proof will count for this storage."""
    if storage == "b1":
        return 1
    qmin, qmax = STORAGE_RANGES[storage]
    return max(-qmin, qmax) if symmetric else qmax - qmin


def min_weight_scale(graph: Graph, use: WeightUse, storage: str, symmetric: bool,
                     target: Target) -> Optional[np.ndarray]:
    """Per output channel, the smallest weight scale at which the consumer's float bias
    fits the accumulator; None when the consumer has no such bias (or its widths alone
    overflow, which the lowering reports)."""
    node = use.consumer
    if node.op not in BIASED_PRODUCTS or len(node.inputs) < 3 or node.inputs[1] is not use.weight:
        return None
    bias, x = node.inputs[2], node.inputs[0].type
    values = graph.const_value(bias) if bias is not None else None
    if values is None or not is_float(bias.type) or not per_tensor(x):
        return None
    terms = int(np.prod(use.weight.type.shape[1:], dtype=np.int64))
    headroom = bias_headroom(target, terms, max_centered(x) * weight_term_bound(storage, symmetric))
    if headroom <= 0:
        return None
    return np.abs(values.astype(np.float64)).reshape(-1) / (scale_of(x) * headroom) * MARGIN
