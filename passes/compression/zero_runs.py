"""zero-run-encode: sparse weights of lowered products stored in zero-run code.

Runs after `lower`. Each constant weight of a qconv1d / qconv2d / qlinear whose code
(numerics/zero_runs.py, `index_bits`-bit runs, values at the weight's storage width)
takes fewer bytes than the dense weight at its storage width becomes a
`zero_run_weight(runs, values)` node of the same name and type, so the saved `.npz`
holds the encoded bytes and the Numba backend can skip the zero taps. Weights are
left dense (with a note) when a zero is not a zero weight (a nonzero zero point), when
the storage cannot hold a zero (b1) or is not packed in whole fields of a byte (i16,
i32), and when the code would not be smaller (a dense layer).

Stats per encoded weight: sparsity, dense bytes (storage width) and the stored bytes
(4-byte base index, counted once, plus the two byte arrays); in total, both sums.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from qcompiler.ir.core import Graph
from qcompiler.ir.types import QuantType, TensorType
from qcompiler.numerics.zero_runs import BASE_INDEX_BYTES, PACKED_WIDTHS, encode_zero_runs, pack_code
from qcompiler.passmanager import Pass, PassContext, PassResult, register_pass

from .errors import CompressionOptionError

PRODUCTS = ("qconv1d", "qconv2d", "qlinear")


def _unsuitable(t) -> str:
    """Why a weight of type `t` is kept dense, or '' when it can be encoded."""
    if not isinstance(t, QuantType) or not t.is_static:
        return "not a quantized weight of static shape"
    if t.storage == "b1" or t.bits not in PACKED_WIDTHS:
        return f"{t.storage} storage has no zero or no byte-packed fields"
    if t.group is not None:
        return "per-group weights"
    if np.any(t.zero_point.array):
        return "a nonzero zero point (a stored 0 is not a zero weight)"
    return ""


def encoded_bytes(runs: np.ndarray, values: np.ndarray) -> int:
    """What a zero_run_weight stores: its two byte arrays and its base index."""
    return BASE_INDEX_BYTES + runs.size + values.size


@register_pass
@dataclass(frozen=True)
class ZeroRunEncode(Pass):
    name: ClassVar[str] = "zero-run-encode"
    index_bits: int = 4

    def __post_init__(self):
        if self.index_bits not in PACKED_WIDTHS:
            raise CompressionOptionError(f"zero-run-encode: index_bits={self.index_bits} must be one of "
                                         f"{', '.join(map(str, PACKED_WIDTHS))}")

    def run(self, graph: Graph, ctx: PassContext) -> PassResult:
        weights = {}
        for node in graph.nodes:
            if node.op in PRODUCTS and len(node.inputs) > 1 and Graph.const_value(node.inputs[1]) is not None:
                weights.setdefault(id(node.inputs[1]), node.inputs[1])
        if not any(node.op in PRODUCTS for node in graph.nodes):
            ctx.note("no qconv1d / qconv2d / qlinear: zero-run-encode runs after lower")
            return PassResult(False, {"layers": {}, "dense_bytes": 0, "stored_bytes": 0})
        layers = {}
        for w in weights.values():
            why = _unsuitable(w.type)
            if why:
                ctx.note(f"weight %{w.name} stays dense: {why}", node=w.name)
                continue
            stored = Graph.const_value(w)
            code = encode_zero_runs(stored, self.index_bits)
            runs, values = pack_code(code, w.type.bits)
            dense = math.ceil(stored.size * w.type.bits / 8)
            if encoded_bytes(runs, values) >= dense:
                continue
            layers[w.name] = {"sparsity": float(np.mean(stored == 0)), "dense_bytes": dense,
                              "stored_bytes": encoded_bytes(runs, values)}
            self._replace(graph, w, code, runs, values)
        if not layers:
            ctx.note("no weight is sparse enough for zero-run code to be smaller")
        totals = {k: sum(layer[k] for layer in layers.values()) for k in ("dense_bytes", "stored_bytes")}
        return PassResult(bool(layers), {"layers": layers, **totals})

    def _replace(self, graph: Graph, w, code, runs, values) -> None:
        const = w.producer
        operands = [graph.constant(a, name=f"{w.name}.{part}", type=TensorType("u8", a.shape), before=const)
                    for part, a in (("runs", runs), ("values", values))]
        attrs = {"entries": code.entries, "base": code.base, "shape": list(w.type.shape),
                 "index_bits": self.index_bits, "expressed": w.type.expressed}
        if const.attrs.get("origin"):
            attrs["origin"] = const.attrs["origin"]
        decoded = graph.add("zero_run_weight", operands, attrs, before=const, output_types=[w.type]).output
        w.replace_all_uses_with(decoded)
        name = w.name
        graph.erase(const)
        graph.rename(decoded, name)
