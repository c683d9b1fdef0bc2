"""What QAT learned, written into the IR: the learned scales go into the types exactly
(the f32 numbers the training used, never re-derived from a range), the trained weights
are stored as integers under their learned scale, trained biases replace the old ones.
Every other part of a type (storage, zero point, axis) stays, so lowering and both
backends apply unchanged. `q.qat` on each layer names the method.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from qcompiler.ir.core import Graph
from qcompiler.ir.dense import Dense
from qcompiler.ir.types import QuantType
from qcompiler.numerics.affine import quantize

from .training_module import TrainingModule, tie_key


def write_back(graph: Graph, trained: TrainingModule, method: str) -> dict:
    """Stats: per learned value, its scale before and after (the first element)."""
    stats = {}
    for weight, parameter, step in trained.weight_steps.values():
        old = weight.value.type
        new = _with_scale(old, step.learned_scale())
        array = parameter.detach().numpy().astype(np.float32)
        integers = np.clip(quantize(array, new), weight.qmin, weight.qmax)
        const = weight.const
        const.attrs["value"] = Dense(integers.astype(const.attrs["value"].array.dtype))
        const.meta["float_value"] = array  # adaround after qat starts from the trained weights
        weight.value.type = new
        weight.layer.attrs["q.qat"] = method
        stats[weight.value.name] = _change(old, new)
    for node, parameter in trained.floats.values():
        node.attrs["value"] = Dense(parameter.detach().numpy().astype(node.attrs["value"].array.dtype))
    learned = {key: step.learned_scale() for key, step in trained.activation_steps.items()}
    for v in graph.values():
        if isinstance(v.type, QuantType) and tie_key(v.type) in learned:
            old = v.type
            v.type = _with_scale(old, learned[tie_key(old)])
            stats.setdefault(v.name, _change(old, v.type))
    return stats


def _with_scale(t: QuantType, scale: np.ndarray) -> QuantType:
    return dataclasses.replace(t, scale=Dense(scale.reshape(t.scale.array.shape).astype(np.float32)))


def _change(old: QuantType, new: QuantType) -> dict:
    return {"scale_before": float(old.scale.array.reshape(-1)[0]), "scale_after": float(new.scale.array.reshape(-1)[0])}
