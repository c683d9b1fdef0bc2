"""Per-tensor scales of minifloat activations.

"max" reads the calibrated range (`q.range`, recorded by calibrate). "mse" needs the
values themselves: the float graph runs once more on a few calibration batches and
keeps a seeded subsample of every activation a layer reads, which the scale search
(minifloat_scales.py) then fits.
"""
from __future__ import annotations

import numpy as np

from qcompiler.ir.core import Graph
from qcompiler.numerics.minifloat import MinifloatFormat
from qcompiler.runtime.reference import release_plan, stream_graph

from ..calibration.data import calibration_batches
from .minifloat_scales import max_scales, row_scales
from .ranges import missing_range, value_range

MSE_SAMPLES = 64          # calibration samples the MSE search runs on
VALUES_PER_TENSOR = 1 << 16


def activation_scales(graph: Graph, values: dict, method: str, ctx) -> dict:
    """id(value) -> scale, for `values` = id -> (Value, MinifloatFormat, reading node label)."""
    absmax = {}
    for key, (v, _, reader) in values.items():
        r = value_range(graph, v)
        if r is None:
            raise missing_range(v, reader)
        absmax[key] = max(abs(r[0]), abs(r[1]))
    if method == "max":
        return {key: float(max_scales(np.array([absmax[key]]), fmt)[0]) for key, (_, fmt, _) in values.items()}
    samples = _samples(graph, set(values), ctx)
    return {key: float(row_scales(samples[key][None, :], fmt, method)[0]) for key, (_, fmt, _) in values.items()}


def _samples(graph: Graph, keys: set, ctx) -> dict:
    """id(value) -> a 1-D float32 subsample of its values over MSE_SAMPLES calibration samples."""
    batches, _ = calibration_batches(ctx.calibration, graph, samples=MSE_SAMPLES)
    rng = np.random.default_rng(ctx.seed)
    kept: dict = {key: [] for key in keys}

    def keep(v, a):
        if id(v) in kept:
            flat = np.asarray(a, np.float32).reshape(-1)
            if flat.size > VALUES_PER_TENSOR:
                flat = rng.choice(flat, VALUES_PER_TENSOR, replace=False)
            kept[id(v)].append(flat)

    plan = release_plan(graph)
    for arrays in batches:
        stream_graph(graph, arrays, keep, plan)
    return {key: np.concatenate(parts) if parts else np.zeros(1, np.float32) for key, parts in kept.items()}
