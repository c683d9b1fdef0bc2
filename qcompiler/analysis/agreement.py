"""How the integer model agrees with its fake-quant simulation, layer by layer.

The lowered graph (integer kernels, dyadic requantization) and the fake-quant graph
(float ops, every result rounded to its QuantType) quantize the same values with the
same parameters; they differ only where float rounding of a sum lands on the other
side of a quantization step. For each quantized value present in both graphs under one
name and with one type, this counts the elements whose stored integers differ and by
how many steps.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir.core import Graph
from ..ir.types import QuantType
from ..numerics.affine import quantize
from ..runtime.reference import run_graph


@dataclass(frozen=True)
class LayerAgreement:
    value: str
    op: str
    elements: int
    differing: int   # elements whose stored integers differ
    max_steps: int   # largest difference, in quantization steps

    @property
    def exact(self) -> bool:
        return self.differing == 0


def integer_agreement(lowered: Graph, fake_quant: Graph, inputs, integer_storage=None) -> list:
    """Per quantized value of `lowered`: agreement with the same value of `fake_quant`.

    `integer_storage` maps value names to the lowered graph's storage arrays (e.g. from
    NumbaExecutor.run_storage); by default the reference interpreter computes them."""
    if integer_storage is None:
        _, floats = run_graph(lowered, inputs, keep=True)
        integer_storage = {v.name: quantize(floats[v.name], v.type) for v in _quantized(lowered)}
    _, simulated = run_graph(fake_quant, inputs, keep=True)
    simulated_types = {v.name: v.type for v in fake_quant.values()}
    rows = []
    for v in _quantized(lowered):
        if v.producer is None or v.producer.op == "const" or simulated_types.get(v.name) != v.type:
            continue
        ours = np.asarray(integer_storage[v.name], np.int64)
        theirs = quantize(simulated[v.name], v.type).astype(np.int64)
        steps = np.abs(ours - theirs)
        rows.append(LayerAgreement(v.name, v.producer.op, int(steps.size), int(np.count_nonzero(steps)),
                                   int(steps.max()) if steps.size else 0))
    return rows


def _quantized(graph: Graph) -> list:
    return [v for v in graph.values() if isinstance(v.type, QuantType)]
