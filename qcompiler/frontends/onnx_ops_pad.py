"""The ONNX Pad converter: constant pads become `pad`; pads computed at run time (from
Shape arithmetic, e.g. timm's SAME padding over a dynamic size) become `dynamic_pad`,
which keeps the dims of the axes whose pads are provably zero."""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..ir.core import Value
from .onnx_fold import constant_value
from .onnx_ops import OnnxNode, Unsupported, converter, normalize_axis


def known_entries(graph, v: Value) -> list:
    """The values of 1-D integer `v` that are fixed at import (None where computed): a
    concat of constant and computed parts keeps its constant parts."""
    node = v.producer
    if node is not None and node.op == "concat" and node.attrs.get("axis", 0) in (0, -1):
        return [x for part in node.inputs for x in known_entries(graph, part)]
    array = constant_value(graph, v)
    if array is not None:
        return [int(x) for x in array.reshape(-1)]
    length = v.type.shape[0] if v.type.rank == 1 else None
    if not isinstance(length, int):
        raise Unsupported(f"run-time pads of unknown length {list(v.type.shape)}")
    return [None] * length


def _constant_value(n: OnnxNode) -> float:
    if n.input(2) is None:
        return 0.0
    value: Optional[np.ndarray] = n.const(2)
    if value is None:
        raise Unsupported("constant_value is not a constant")
    return value.reshape(-1)[0].item()


@converter("Pad")
def pad(n: OnnxNode):
    rank = n.rank()
    mode = n.attr("mode", "constant")
    if n.opset < 11:
        return [n.add("pad", [n.input(0)], {"pads": list(n.attr("pads")), "mode": mode,
                                            "value": n.attr("value", 0.0)})]
    value = _constant_value(n)
    axes = n.const_ints(3, "axes") if n.opset >= 18 else None
    if n.const(1) is None:
        if axes is not None:
            raise Unsupported("run-time pads for a subset of the axes")
        known = known_entries(n.graph, n.input(1))
        unpadded = [a for a in range(rank) if known[a] == 0 and known[a + rank] == 0]
        return [n.add("dynamic_pad", [n.input(0), n.input(1)], {"mode": mode, "value": value,
                                                                 "unpadded": unpadded or None})]
    pads = n.const_ints(1, "pads") or [0] * 2 * rank
    if axes:
        # pads list begins then ends for the given axes only; spread it over every axis
        full = [0] * 2 * rank
        for j, a in enumerate(axes):
            a = normalize_axis(a, rank, n.where)
            full[a], full[a + rank] = pads[j], pads[j + len(axes)]
        pads = full
    return [n.add("pad", [n.input(0)], {"pads": list(pads), "mode": mode, "value": value})]
