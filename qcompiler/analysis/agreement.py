"""How the integer model agrees with its fake-quant simulation, layer by layer.

The lowered graph (integer kernels, dyadic requantization) and the fake-quant graph
(float ops, every result rounded to its QuantType) quantize the same values with the
same parameters; they differ only where float rounding of a sum lands on the other
side of a quantization step. Run end to end, such one-step differences compound
through a deep network, so each layer is checked on its own: every lowered node gets
the fake-quant graph's stored integers as inputs (where a value exists in both graphs
with one name and type; nodes the lowering inserted run on what precedes them), and
its result is compared with the fake-quant graph's result of the same name.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir.core import Graph
from ..ir.types import QuantType
from ..runtime.reference import bind_inputs, run_node, stream_graph


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


def integer_agreement(lowered: Graph, fake_quant: Graph, inputs) -> list:
    """Per quantized result of `lowered` that `fake_quant` also has (same name and type):
    agreement of the stored integers when the layer runs on the simulation's inputs."""
    # the simulation's values as the runtime holds them (stored integers of a quantized
    # one), which is how the lowered graph holds a value of the same type
    simulated: dict = {}
    stream_graph(fake_quant, inputs, lambda v, a: simulated.__setitem__(v.name, a))
    simulated_types = {v.name: v.type for v in fake_quant.values()}

    def shared(v) -> bool:
        return v.name in simulated and simulated_types.get(v.name) == v.type

    env = bind_inputs(lowered, inputs)
    rows = []
    for node in lowered.nodes:
        args = [None if v is None else simulated[v.name] if shared(v) else env[id(v)] for v in node.inputs]
        for v, out in zip(node.outputs, run_node(node, args)):
            env[id(v)] = out
            if node.op == "const" or not isinstance(v.type, QuantType) or not shared(v):
                continue
            rows.append(_agreement(v.name, node.op, np.asarray(out), simulated[v.name]))
    return rows


def _agreement(value: str, op: str, computed: np.ndarray, simulated: np.ndarray) -> LayerAgreement:
    # compared as stored (integers), widened to int64 only where they differ (usually
    # nowhere): report() compares every layer of the model on all its samples
    computed, simulated = (a if a.dtype.kind in "iu" else a.astype(np.int64) for a in (computed, simulated))
    differ = computed != simulated
    count = int(np.count_nonzero(differ))
    steps = int(np.abs(np.subtract(computed, simulated, dtype=np.int64))[differ].max()) if count else 0
    return LayerAgreement(value, op, int(differ.size), count, steps)
