"""Kernel codebooks as an allocation choice: label "cbI" gives a conv2d with k×k kernels
(k ≥ 2) a codebook of 2^I codewords of `codebook_bits` each (docs/codebook.md), next to
the integer widths. It is offered where the target runs i8 weights for conv2d (the
codewords are i8; an int8-only target runs the expanded weight) and codewords fit i8.

Costs, per sample like costs.py:
- size: the bytes codebook-quantize will store — I' bits per kernel (I' = the index
  width the layer's kernels need, at most I), every codeword at `codebook_bits`, the f32
  scale;
- bops: the codebook convolution's own arithmetic (the Numba kernel's): per input
  channel one k×k convolution per codeword, Cin·2^I'·P·k² multiplies at codebook_bits ×
  a_bits, plus the gathers, Cout·Cin/g·P additions counted at the accumulator's width;
- latency: the target's roofline with that work — the multiplies at max(codebook_bits,
  a_bits), the additions at the cost table's widest MAC — against the bytes of the
  codebook, indices and activations (the planes are taken to stay in cache).

Sensitivity: the sensitivity pass measures integer widths only, so "cbI" gets the proxy
S_cb = S_b · E_cb / E_b, the layer's measured score at width b scaled by the ratio of
weight errors ‖Ŵ − W‖² — Ŵ the codebook codebook-quantize will learn (same k-means, same
seed, share=layer), and b the measured width whose error is nearest E_cb (log scale).
That is the Hessian-trace model every weight-perturbation metric shares (for `hessian`
all b agree); the nearest b extrapolates least for the others.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from qcompiler.analysis.macs import macs
from qcompiler.targets import Target

from ..codebook.kmeans import learn_codebook
from ..codebook.quantize import index_bits_for
from ..codebook.size import SCALE_BITS
from .costs import activation_bytes
from .errors import AllocationError
from .group_sensitivity import channel_errors

LABEL = re.compile(r"cb([0-9]+)")


class ChoiceError(AllocationError, ValueError):
    """A malformed choice label (a ValueError too, so pipelines report it as a PipelineError)."""


def codebook_index_bits(label) -> Optional[int]:
    """I of a label "cbI" (2..8); None for an integer width."""
    if not isinstance(label, str):
        return None
    match = LABEL.fullmatch(label)
    if match is None or not 2 <= int(match.group(1)) <= 8:
        raise ChoiceError(f"choice {label!r} is neither a weight width nor a codebook 'cbI' with I in 2..8")
    return int(match.group(1))


def codebook_kernel(layer) -> Optional[tuple]:
    """(kh, kw) when the layer is a conv2d with square kernels of 2×2 or more."""
    node = layer.node
    if node.op != "conv2d" or len(layer.weights) != 1 or layer.weights[0].weight is not node.inputs[1]:
        return None
    kernel = tuple(node.inputs[1].type.shape[2:])
    return kernel if len(kernel) == 2 and kernel[0] == kernel[1] >= 2 else None


@dataclass
class CodebookChoices:
    """What "cbI" means for a layer: its costs, sensitivity proxy and the attributes it writes."""

    graph: object
    codebook_bits: int
    seed: int
    symmetric: bool  # of the integer widths' quantizer, whose errors are the proxy's reference
    _errors: dict = field(default_factory=dict)

    def offered(self, layer, target: Target) -> bool:
        return (self.codebook_bits <= 8 and target.supports_weight("conv2d", "i8")
                and codebook_kernel(layer) is not None)

    def _geometry(self, layer, index_bits: int) -> tuple:
        w = layer.node.inputs[1].type.shape
        kernels = int(w[0]) * int(w[1])
        return kernels, index_bits_for(index_bits, kernels)

    def costs(self, layer, index_bits: int, a_bits: int, target: Target) -> dict:
        node = layer.node
        kernels, stored_bits = self._geometry(layer, index_bits)
        area = math.prod(codebook_kernel(layer))
        codewords = 2 ** stored_bits
        size = (stored_bits * kernels + self.codebook_bits * codewords * area + SCALE_BITS) / 8
        positions = macs(node) // (kernels * area)  # macs = P · Cout · Cin/g · k², P output positions per channel
        cin = int(node.inputs[1].type.shape[1]) * node.attrs.get("groups", 1)
        multiplies, adds = cin * codewords * positions * area, kernels * positions
        compute = (multiplies * target.cost.mac_latency(max(self.codebook_bits, a_bits))
                   + adds * target.cost.mac_latency(target.accumulator_bits))
        memory = (size + activation_bytes(node, a_bits)) / target.cost.bytes_per_ns
        return {"size": size, "bops": float(multiplies * self.codebook_bits * a_bits + adds * target.accumulator_bits),
                "latency": max(compute, memory)}

    def sensitivity(self, layer, index_bits: int, reader: str) -> float:
        measured = layer.node.attrs.get("q.sens")
        if not measured:
            raise AllocationError(f"{layer.node.label()} has no q.sens: run sensitivity before {reader}")
        error = self._codebook_error(layer, index_bits)
        widths = {int(b): self._width_error(layer, int(b)) for b in measured}
        nearest = min(widths, key=lambda b: abs(math.log((error + 1e-30) / (widths[b] + 1e-30))))
        return float(measured[str(nearest)]) * error / widths[nearest] if widths[nearest] > 0 else 0.0

    def _width_error(self, layer, bits: int) -> float:
        key = (layer.name, bits)
        if key not in self._errors:
            self._errors[key] = float(channel_errors(self.graph, layer.weights[0], bits, self.symmetric).sum())
        return self._errors[key]

    def _codebook_error(self, layer, index_bits: int) -> float:
        key = (layer.name, f"cb{index_bits}")
        if key not in self._errors:
            w = np.asarray(self.graph.const_value(layer.node.inputs[1]), np.float64)
            kernels = w.reshape(-1, math.prod(codebook_kernel(layer)))
            book = learn_codebook(kernels, self._geometry(layer, index_bits)[1], self.codebook_bits, self.seed)
            approx = book.codewords[book.indices] * book.scale
            self._errors[key] = float(((approx - kernels) ** 2).sum())
        return self._errors[key]

    def write(self, node, index_bits: int) -> None:
        """The attributes codebook-quantize reads; a stale integer width is dropped."""
        node.attrs.pop("q.bits", None)
        node.attrs["q.index_bits"] = index_bits
        node.attrs["q.codebook_bits"] = self.codebook_bits
