"""slq: single-level incremental quantization (INQ / SLQ) with re-training.

    slq{bits=4, rounds=[0.5,0.75,1.0], epochs=2, lr=0.001, batch=64, order=magnitude,
        method=mse, granularity=channel}

In each round the given fraction of every weight is quantized to `bits` (largest
magnitudes first, or `order=error`: best represented first) and frozen, and the rest is
re-trained on the labelled calibration data (incremental.py). A layer's `q.bits` (from
the bit allocator) overrides `bits`. Run after fold-bn and before calibrate: calibrate
and quantize then handle the activations and leave these weights as they are.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from qcompiler.passmanager import PassResult, register_pass

from .errors import CompressionError
from .incremental import IncrementalOptions, check_bits, run_incremental


@register_pass
@dataclass(frozen=True)
class SLQ(IncrementalOptions):
    name: ClassVar[str] = "slq"
    bits: int = 4

    def __post_init__(self):
        check_bits(self.bits, self.name, "bits")
        self.check_schedule()

    def run(self, graph, ctx) -> PassResult:
        def levels_of(weight):
            node = weight.layers[0]
            bits = node.attrs.get("q.bits", self.bits)
            return (check_bits(bits, f"{self.name} at {node.label()}", "q.bits", CompressionError),)

        return run_incremental(graph, ctx, self, levels_of)
