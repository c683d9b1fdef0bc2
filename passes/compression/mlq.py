"""mlq: multi-level incremental quantization — SLQ at progressively lower bit widths.

    mlq{levels=[8,4,2], rounds=[0.5,0.75,1.0], epochs=2, ...}   (other options as slq)

Each level runs the SLQ rounds (incremental.py) starting from the weights the previous
level left, on a grid fitted to them, so the last, coarsest grid is approached in small
steps with re-training at each. Every layer goes through all levels (its `q.bits` is
not consulted) and ends at the last one.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from qcompiler.passmanager import PassResult, register_pass

from .errors import CompressionOptionError
from .incremental import IncrementalOptions, check_bits, run_incremental


@register_pass
@dataclass(frozen=True)
class MLQ(IncrementalOptions):
    name: ClassVar[str] = "mlq"
    levels: tuple[int, ...] = (8, 4, 2)

    def __post_init__(self):
        levels = [check_bits(b, self.name, "level") for b in self.levels]
        if not levels or any(a <= b for a, b in zip(levels, levels[1:])):
            raise CompressionOptionError(f"{self.name}: levels={list(self.levels)} must be decreasing bit widths")
        self.check_schedule()

    def run(self, graph, ctx) -> PassResult:
        levels = tuple(int(b) for b in self.levels)
        return run_incremental(graph, ctx, self, lambda weight: levels)
