"""`minifloat-sensitivity{formats=[e4m3,e2m3,e2m1], samples=32}`: how much noise each layer's
weight rounded to each minifloat format puts on the outputs, everything else float:
Σ‖y_f − y‖² / Σ‖y‖² over the float outputs and samples (1/SQNR, as sensitivity's sqnr
metric). Written into the layer's `q.sens` under the format's name, next to any integer
widths, for `allocate-bits{choices=[e4m3,e2m3,...]}`. The weight is rounded as quantize
will round it: per output channel, max scales.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from qcompiler.ir.dense import Dense
from qcompiler.numerics.minifloat import fake_quantize
from qcompiler.passmanager import Pass, PassContext, PassResult, register_pass
from qcompiler.runtime.reference import run_graph

from ..calibration.data import calibration_batches
from ..calibration.weight_operands import weight_uses
from .minifloat import FORMATS, format_named, minifloat_type
from .minifloat_scales import row_scales


@register_pass
@dataclass(frozen=True)
class MinifloatSensitivity(Pass):
    name: ClassVar[str] = "minifloat-sensitivity"
    formats: tuple = ("e4m3", "e2m3", "e2m1")
    samples: int = 32

    def __post_init__(self):
        object.__setattr__(self, "formats", tuple(self.formats))  # a pipeline string gives a list
        unknown = [f for f in self.formats if f not in FORMATS]
        if not self.formats or unknown:
            raise ValueError(f"formats={list(self.formats)}: expected minifloat formats among {', '.join(FORMATS)}")
        if self.samples < 1:
            raise ValueError(f"samples must be at least 1, got {self.samples}")

    def run(self, graph, ctx: PassContext) -> PassResult:
        batches, _ = calibration_batches(ctx.calibration, graph, samples=self.samples)
        inputs = list(batches)
        reference = [run_graph(graph, batch) for batch in inputs]
        layers = {id(use.weight): use for use in weight_uses(graph)}.values()
        for use in layers:
            const = use.weight.producer
            value = const.attrs["value"]
            scores = dict(use.consumer.attrs.get("q.sens", {}))
            for name in self.formats:
                const.attrs["value"] = Dense(_rounded(value.array, use.axis, name))
                scores[name] = _noise_ratio([run_graph(graph, batch) for batch in inputs], reference)
            const.attrs["value"] = value
            use.consumer.attrs["q.sens"] = scores
        return PassResult(True, {"layers": len(layers), "formats": len(self.formats)})


def _rounded(w: np.ndarray, axis, name: str) -> np.ndarray:
    rows = np.moveaxis(w, axis, 0).reshape(w.shape[axis], -1) if axis is not None else w.reshape(1, -1)
    scale = row_scales(rows, format_named(name), "max")
    t = minifloat_type(name, "f32", w.shape, scale if axis is not None else float(scale[0]), axis)
    return fake_quantize(w, t).astype(w.dtype)


def _noise_ratio(outputs: list, reference: list) -> float:
    noise = sum(float(((y - r).astype(np.float64) ** 2).sum()) for ys, rs in zip(outputs, reference)
                for y, r in zip(ys, rs))
    signal = sum(float((r.astype(np.float64) ** 2).sum()) for rs in reference for r in rs)
    return noise / max(signal, np.finfo(np.float64).tiny)
