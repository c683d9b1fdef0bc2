"""Residual weights as an allocation choice: the label "TxB" (e.g. "2x4") is T terms of
B-bit integers, W ~ s1*Q1 + ... + sT*QT (docs/residual.md), offered to conv1d, conv2d
and linear layers. Size counts T x B bits per weight, BOPs and latency T x the
layer's MACs at B bits (the product runs once per term). Its sensitivity is the layer's
`q.sens` at T x B bits: two int4 terms approximate a weight as well as one int8 tensor
per channel (within 0.1 dB of weight SQNR on Gaussian and heavy-tailed weights,
tests/passes/quantize/test_residual_terms.py), so the int8 score stands in for what the
sensitivity pass does not measure. `write_choices` marks the layer `q.residual = T`; quantize-residual{select=allocated}
rewrites it after quantize."""
from __future__ import annotations

import re
from typing import Optional

from qcompiler.analysis.macs import macs
from qcompiler.targets import Target

from ..quantize.choices import WEIGHT_STORAGE
from .costs import activation_bytes
from .codebook_choice import ChoiceError

LABEL = re.compile(r"([0-9]+)x([0-9]+)")
LAYERS = ("conv1d", "conv2d", "linear")


def residual_terms_bits(label) -> Optional[tuple]:
    """(terms, bits) of a label "TxB"; None for any other choice. Bad T or B are refused."""
    if not isinstance(label, str):
        return None
    match = LABEL.fullmatch(label)
    if match is None:
        return None
    terms, bits = int(match.group(1)), int(match.group(2))
    if not 2 <= terms <= 4 or WEIGHT_STORAGE.get(bits) != f"i{bits}":  # terms are whole containers
        raise ChoiceError(f"choice {label!r}: residual weights are 2..4 terms of 2, 4 or 8 bits")
    return terms, bits


def offered(layer, label, target: Target) -> bool:
    _, bits = residual_terms_bits(label)
    node = layer.node
    return node.op in LAYERS and target.supports_weight(node.op, WEIGHT_STORAGE[bits])


def residual_costs(layer, label, a_bits: int, target: Target) -> dict:
    terms, bits = residual_terms_bits(label)
    weight_bytes = layer.params * terms * bits / 8
    count = terms * macs(layer.node)
    return {"size": weight_bytes, "bops": float(count * bits * a_bits),
            "latency": target.cost.layer_latency_ns(count, max(bits, a_bits),
                                                    weight_bytes + activation_bytes(layer.node, a_bits))}


def residual_sensitivity_width(label) -> int:
    terms, bits = residual_terms_bits(label)
    return terms * bits
