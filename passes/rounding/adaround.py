"""adaround: learn whether each quantized weight rounds up or down, by reconstructing
layer (AdaRound, Nagel et al. 2020) or block (BRECQ, Li et al. 2021) outputs on
calibration data.

Runs after `quantize` in the same pipeline (it needs the float weights quantize caches,
float_weights.py) and before `lower`. It re-decides only the stored integers: scales,
zero points and types stay, every integer stays within its storage range (and the
reduced range of AVX2 weights), so lowering and the backends apply unchanged.

Units (units.py) are rounded in graph order; each sees its inputs from the quantized
graph with the units before it already rounded, activations fake-quantized with their
calibrated ranges, and is trained toward the float graph's outputs (streams.py,
unit_graph.py, reconstruct.py). A unit keeps its learned rounding only if its output
error on the calibration samples is no larger than with rounding to nearest
(`q.adaround` says which: the scope, or "nearest").

Options: `iters` Adam steps per unit, `lr`, `reg` (weight λ of the rounding
regulariser), `scope` (layer | block), `block_layers` (most layers in a block),
`samples` (calibration samples used), `batch` (mini-batch), `warmup` (fraction of steps
before the regulariser), `seed` (default: the context's).
Stats: per layer, the unit's output MSE with nearest and with learned rounding and the
number of integers changed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional

import numpy as np
import torch

from qcompiler.ir.core import Graph
from qcompiler.ir.dense import Dense
from qcompiler.passmanager import Pass, PassContext, PassResult, register_pass

from ..calibration.data import calibration_batches
from .errors import RoundingError
from .float_weights import rounded_weights
from .reconstruct import Schedule, hard_weights, learn, mean_squared_error
from .rounding import LearnedRounding
from .streams import Stream
from .unit_graph import float_graph, segment_module
from .units import Segment, partition, units

SCOPES = ("layer", "block")


@register_pass
@dataclass(frozen=True)
class AdaRound(Pass):
    name: ClassVar[str] = "adaround"
    iters: int = 1000
    lr: float = 0.01
    reg: float = 0.01
    scope: str = "layer"
    block_layers: int = 4
    samples: Optional[int] = 256
    batch: int = 32
    warmup: float = 0.2
    seed: Optional[int] = None

    def __post_init__(self):
        if self.scope not in SCOPES:
            raise RoundingError(f"adaround: scope={self.scope!r}; expected one of {', '.join(SCOPES)}")
        for option in ("iters", "batch", "block_layers"):
            if getattr(self, option) < 1:
                raise RoundingError(f"adaround: {option}={getattr(self, option)} must be at least 1")
        if self.samples is not None and self.samples < 1:
            raise RoundingError(f"adaround: samples={self.samples} must be at least 1")
        if not self.lr > 0 or not self.reg >= 0 or not 0 <= self.warmup < 1:
            raise RoundingError(f"adaround: lr={self.lr} must be > 0, reg={self.reg} >= 0 and warmup={self.warmup} "
                                "in [0, 1)")

    def run(self, graph: Graph, ctx: PassContext) -> PassResult:
        weights = rounded_weights(graph, ctx)
        if not weights:
            ctx.note("adaround: no quantized weights to round (run quantize first, in the same pipeline)")
            return PassResult(False, {"scope": self.scope, "units": 0, "layers": {}})
        if ctx.calibration is None:
            raise RoundingError("adaround needs calibration data: pass calibration=... (the forms calibrate "
                                "accepts)")
        batches = list(calibration_batches(ctx.calibration, graph, samples=self.samples, batch=self.batch)[0])
        inputs = [torch.from_numpy(np.concatenate([b[v.name] for b in batches])) for v in graph.inputs]
        batch = _batch_size(graph, self.batch)
        segments = partition(graph, weights, self.scope, self.block_layers)
        quantized = Stream(graph, inputs, batch)
        teacher = Stream(float_graph(graph, weights), inputs, batch)
        generator = torch.Generator().manual_seed(ctx.seed if self.seed is None else self.seed)
        schedule = Schedule(self.iters, self.lr, self.reg, self.warmup, batch)
        layers: dict = {}
        for segment in ctx.progress.iterate(segments, desc="adaround", total=len(segments)):
            targets = teacher.run(segment)
            if segment.weights:
                layers.update(self._round(graph, segment, quantized.get(segment.inputs), targets, schedule,
                                          generator, ctx))
            quantized.run(segment)
        return PassResult(True, {"scope": self.scope, "units": len(units(segments)), "layers": layers})

    def _round(self, graph: Graph, unit: Segment, inputs: list, targets: list, schedule: Schedule,
               generator: torch.Generator, ctx: PassContext) -> dict:
        """Learn one unit's rounding, store it if it beats nearest; per-layer stats."""
        module = segment_module(graph, unit, list(unit.nodes), learning=True)
        roundings = [LearnedRounding(w) for w in unit.weights]
        learn(module, roundings, inputs, targets, schedule, generator)
        nearest = mean_squared_error(module, hard_weights(roundings, "nearest"), inputs, targets, schedule.batch)
        learned = mean_squared_error(module, hard_weights(roundings, "learned"), inputs, targets, schedule.batch)
        keep = learned <= nearest
        if not keep:
            ctx.note(f"adaround: the learned rounding of the unit at %{unit.label} reconstructs worse than "
                     f"nearest ({learned:.3g} vs {nearest:.3g} MSE); kept nearest", node=unit.label)
        stats = {}
        for w, r in zip(unit.weights, roundings):
            integers = r.learned() if keep else r.nearest
            old = w.const.attrs["value"].array
            w.const.attrs["value"] = Dense(integers.numpy().astype(old.dtype))
            w.layer.attrs["q.adaround"] = self.scope if keep else "nearest"
            stats[w.layer.outputs[0].name] = {"unit": unit.label, "mse_nearest": nearest, "mse_learned": learned,
                                              "changed": int((integers != r.nearest).sum())}
        return stats


def _batch_size(graph: Graph, batch: int) -> int:
    """`batch`, or the inputs' static batch size: a graph traced at a fixed batch may
    spell it in its reshapes."""
    shape = graph.inputs[0].type.shape if graph.inputs else ()
    return shape[0] if shape and isinstance(shape[0], int) else batch
