"""The weights adaround re-rounds, and their float values.

`quantize` keeps each weight's float array in its constant's meta cache
(`float_value`). A cache may be dropped (meta is never printed or saved) or, in
principle, outlive a pass that re-quantized the constant, so it is checked against the
stored integers before use: every stored value must lie within one step of the float
weight rounded to nearest under the constant's current type (any rounding decision,
adaround's included, is floor or ceil). A missing or stale cache is an error naming the
weight, never a silent re-rounding of the wrong values.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qcompiler.ir.core import Graph, Node, Value
from qcompiler.ir.types import QuantType
from qcompiler.numerics.affine import quantize

from ..quantize.choices import stored_levels
from .errors import RoundingError


@dataclass(frozen=True)
class Weight:
    value: Value
    layer: Node            # its only reader
    float_value: np.ndarray
    qmin: int              # the integer range the stored values must keep
    qmax: int

    @property
    def const(self) -> Node:
        return self.value.producer


# ops whose constant operands quantize stores as integer weights
LAYERS = ("conv1d", "conv2d", "conv_transpose2d", "linear", "gemm", "matmul")


def rounded_weights(graph: Graph, ctx) -> list:
    """The quantized weight constants adaround can re-round, in graph order. Binary
    weights (a sign has nothing to round) and weights read by several layers (each would
    want its own rounding) are left as they are, with a note for the latter."""
    weights, seen = [], set()
    for layer, w in _quantized_weights(graph):
        if id(w) in seen or w.type.storage == "b1":
            continue
        seen.add(id(w))
        if len(w.users) > 1:
            ctx.note(f"weight %{w.name} is read by {len(w.users)} layers; adaround keeps its nearest rounding",
                     node=layer.outputs[0].name)
            continue
        qmin, qmax = stored_levels(layer, w.type.storage)  # a narrower width's, inside its container
        weights.append(Weight(w, layer, _float_value(w, layer, qmin, qmax), qmin, qmax))
    return weights


def _quantized_weights(graph: Graph):
    """(layer, weight) for every quantized constant operand of a layer."""
    for node in graph.nodes:
        if node.op in LAYERS:
            for v in node.inputs:
                if v is not None and v.producer is not None and v.producer.op == "const" \
                        and isinstance(v.type, QuantType):
                    yield node, v


def _float_value(w: Value, layer: Node, qmin: int, qmax: int) -> np.ndarray:
    const = w.producer
    array = const.meta.get("float_value")
    stored = np.asarray(const.attrs["value"].array, np.int64)
    if array is None:
        raise RoundingError(f"adaround: weight %{w.name} of {layer.label()} is quantized, but its float values "
                            "are gone (quantize keeps them in a cache that only lives within one pipeline): run "
                            "adaround in the same pipeline as quantize, after it")
    if array.shape != stored.shape:
        raise RoundingError(f"adaround: the cached float values of weight %{w.name} have shape "
                            f"{list(array.shape)}, its integers {list(stored.shape)}: a pass changed the weight "
                            "after quantize; run adaround right after quantize")
    nearest = np.clip(quantize(array, w.type), qmin, qmax)
    if np.abs(nearest - stored).max() > 1:
        raise RoundingError(f"adaround: the integers of weight %{w.name} are more than one step from its cached "
                            "float values rounded to nearest: a pass re-quantized it after quantize; run adaround "
                            "right after quantize")
    return array
