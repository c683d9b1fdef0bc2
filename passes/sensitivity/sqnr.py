"""`metric=sqnr`: how much noise one layer at b bits puts on the outputs, everything else
float: Σ‖y_b − y‖² / Σ‖y‖² over the float outputs and samples (1/SQNR, linear, so the
contributions of independently quantized layers roughly add up as the allocator assumes).

With `acts`, the same for the layer's data input quantized at a bits (per tensor, over
the range it spans on the data), written as `q.sens_act`.
"""
from __future__ import annotations

import numpy as np
import torch

from qcompiler.ir.types import STORAGE_RANGES
from qcompiler.numerics.affine import params_from_range
from qcompiler.runtime.fake_quant import fake_quantize

from .measurement import Measurement


def _noise_ratio(m: Measurement, run) -> float:
    noise = signal = 0.0
    with torch.no_grad():
        for k, batch in enumerate(m.batches):
            for y, ref in zip(run(batch), m.reference(k)):
                if ref.is_floating_point():
                    noise += float(((y - ref).double() ** 2).sum())
                    signal += float((ref.double() ** 2).sum())
    return noise / max(signal, np.finfo(np.float64).tiny)


def sqnr_scores(m: Measurement) -> tuple:
    scores = {}
    for layer in m.layers:
        scores[layer.name] = {}
        for b in m.bits:
            weights = m.quantized(layer, b)
            scores[layer.name][b] = _noise_ratio(m, lambda batch: m.model(batch.inputs, weights))
    return scores, {}


def input_ranges(m: Measurement) -> dict:
    names = [layer.name for layer in m.layers]
    lo, hi = {n: np.inf for n in names}, {n: -np.inf for n in names}
    with torch.no_grad():
        for batch in m.batches:
            _, recorded = m.model.probe(batch.inputs, record=names)
            for n in names:
                x = recorded[n][0]
                lo[n], hi[n] = min(lo[n], float(x.min())), max(hi[n], float(x.max()))
    return {n: (lo[n], hi[n]) for n in names}


def activation_storage(bits: int, symmetric: bool) -> str:
    return f"i{bits}" if symmetric else f"u{bits}"


def _activation_quantizer(lo: float, hi: float, bits: int, symmetric: bool):
    """x -> x fake-quantized per tensor over [lo, hi] at `bits`."""
    storage = activation_storage(bits, symmetric)
    scale, zero_point = params_from_range(lo, hi, storage, symmetric)
    qmin, qmax = STORAGE_RANGES[storage]
    scale, zero_point = torch.tensor(scale), torch.tensor(zero_point, dtype=torch.float32)
    return lambda x: fake_quantize(x, scale, zero_point, qmin, qmax)


def activation_scores(m: Measurement, acts: tuple) -> dict:
    """{layer name: {a: noise ratio with the layer's data input at a bits}}."""
    scores = {}
    for name, (lo, hi) in input_ranges(m).items():
        scores[name] = {}
        for a in acts:
            quantizer = _activation_quantizer(lo, hi, a, m.activation_symmetric)
            scores[name][a] = _noise_ratio(m, lambda batch: m.model.probe(batch.inputs, transform={name: quantizer})[0])
    return scores
