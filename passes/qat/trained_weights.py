"""The weights qat trains: adaround's (rounding/float_weights.py: quantized weight
constants with one reader and their cached float values) plus binary (b1) weights,
which adaround leaves alone (a sign has nothing to round) but training can move: AutoQB's
binary channel groups (allocate-bits{granularity=channel-group:G, choices=[1,...]}) are
retrained with their signs learned and their scale following the weights
(binary_step.py).

A binary weight's cache is checked like adaround's: its signs must be the stored ones,
else a pass changed the weight after quantize and the float values are not its own.
"""
from __future__ import annotations

import numpy as np

from qcompiler.ir.core import Graph
from qcompiler.ir.types import QuantType
from qcompiler.numerics.affine import quantize

from ..rounding.float_weights import LAYERS, Weight, rounded_weights
from .errors import QATError


def trained_weights(graph: Graph, ctx) -> list:
    """The learnable quantized weights, in graph order."""
    weights = rounded_weights(graph, ctx) + _binary_weights(graph, ctx)
    position = {id(n): i for i, n in enumerate(graph.nodes)}
    return sorted(weights, key=lambda w: position[id(w.layer)])


def is_binary(weight: Weight) -> bool:
    return weight.value.type.storage == "b1"


def _binary_weights(graph: Graph, ctx) -> list:
    weights = []
    for layer in graph.nodes:
        if layer.op not in LAYERS:
            continue
        for v in layer.inputs:
            if v is None or v.producer is None or v.producer.op != "const" or not isinstance(v.type, QuantType) \
                    or v.type.storage != "b1":
                continue
            if len(v.users) > 1:
                ctx.note(f"binary weight %{v.name} is read by {len(v.users)} layers; qat keeps it as quantize "
                         "stored it", node=layer.outputs[0].name)
                continue
            weights.append(Weight(v, layer, _float_value(v, layer), -1, 1))
    return weights


def _float_value(v, layer) -> np.ndarray:
    array = v.producer.meta.get("float_value")
    stored = np.asarray(v.producer.attrs["value"].array)
    if array is None:
        raise QATError(f"qat: binary weight %{v.name} of {layer.label()} has lost its float values (quantize "
                       "keeps them in a cache that lives within one pipeline): run qat in the same pipeline as "
                       "quantize, after it")
    if array.shape != stored.shape or not np.array_equal(quantize(array, v.type), stored):
        raise QATError(f"qat: the cached float values of binary weight %{v.name} of {layer.label()} do not give "
                       "its stored signs: a pass changed the weight after quantize; run qat right after quantize")
    return array
