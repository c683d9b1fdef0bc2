"""`calibrate-weights`: ranges of the weight constants of quantizable ops. Weights are
known at compile time, so this needs no calibration data; `calibrate` runs it too."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from qcompiler.ir.core import Graph
from qcompiler.passmanager import Pass, PassContext, PassResult, register_pass

from .attrs import channel_range_attr, range_attr
from .errors import CalibrationError
from .observers import METHODS
from .quant_error import signed_levels
from .symmetry import target_symmetry
from .weight_operands import weight_uses
from .weight_ranges import weight_range

GRANULARITIES = ("tensor", "channel")


def check_percentile(percentile: float) -> None:
    # checked with the other options even when no method reads it, so a typo cannot wait
    if not 0.0 < percentile <= 100.0:
        raise ValueError(f"percentile must be in (0, 100], got {percentile}")


def check_weight_options(method: str, granularity: str) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown weight calibration method {method!r}; expected one of {', '.join(METHODS)}")
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {', '.join(GRANULARITIES)} (group ranges are "
                         f"derived by the quantizer from the weights), got {granularity!r}")


def annotate_weight_ranges(graph: Graph, ctx: PassContext, *, method: str, bits: int, granularity: str,
                           percentile: float = 99.99) -> int:
    """Write `q.range`, `q.method` and `q.range_bits` (the width the range is for; with
    `q.percentile` when the method reads it) on every weight constant; returns how many.
    The width is the consumer's `q.bits` if set, else `bits`. quantize derives the range
    again when it stores the weight in another width."""
    symmetric = target_symmetry(ctx)[0]
    chosen: dict = {}  # id(weight value) -> (axis, bits) it was calibrated for
    for use in weight_uses(graph):
        w_bits = int(use.consumer.attrs.get("q.bits", bits))
        axis = use.axis if granularity == "channel" else None
        key = (axis, w_bits)
        if id(use.weight) in chosen:
            if chosen[id(use.weight)] != key:
                ctx.warn(f"weight %{use.weight.name} is shared by consumers wanting (axis, bits) "
                         f"{chosen[id(use.weight)]} and {key}; keeping the first", node=use.consumer.label())
            continue
        chosen[id(use.weight)] = key
        array = graph.const_value(use.weight)
        if not np.isfinite(array).all():
            origin = use.weight.producer.attrs.get("origin")
            named = f" ({origin})" if origin else ""
            bad = "NaN" if np.isnan(array).any() else "Inf"
            raise CalibrationError(f"weight %{use.weight.name}{named} of {use.consumer.label()} contains {bad}")
        # binary weights take their scale from the mean magnitude (quantize/weights.py), not
        # from a range, and no clipping method has a 1-bit grid: record the plain extremes
        w_method = "minmax" if w_bits == 1 else method
        lo, hi = weight_range(array, w_method, w_bits, symmetric, axis, percentile)
        node = use.weight.producer
        node.attrs["q.range"] = range_attr(lo, hi) if axis is None else channel_range_attr(lo, hi)
        node.attrs["q.method"] = w_method
        node.attrs["q.range_bits"] = w_bits
        if w_method == "percentile":
            node.attrs["q.percentile"] = float(percentile)
    return len(chosen)


@register_pass
@dataclass(frozen=True)
class CalibrateWeights(Pass):
    """Per-channel (or per-tensor) weight ranges of conv/linear/gemm/matmul weights."""

    name: ClassVar[str] = "calibrate-weights"
    method: str = "minmax"
    bits: int = 8
    granularity: str = "channel"
    percentile: float = 99.99

    def __post_init__(self):
        check_weight_options(self.method, self.granularity)
        check_percentile(self.percentile)
        signed_levels(self.bits)  # a width narrower than its storage (i5 in i8) is searched on its own grid

    def run(self, graph: Graph, ctx: PassContext) -> PassResult:
        n = annotate_weight_ranges(graph, ctx, method=self.method, bits=self.bits,
                                   granularity=self.granularity, percentile=self.percentile)
        return PassResult(n > 0, {"weights": n})
