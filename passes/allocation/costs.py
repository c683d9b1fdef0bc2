"""What one layer costs at given weight and activation widths, per resource:
size (bytes of its weights), bops (MACs × w_bits × a_bits) and latency (the target's
roofline: MACs at the wider operand's width against the bytes of weights, input and
output). Symbolic dims count 1, so costs with a dynamic batch are per sample."""
from __future__ import annotations

import math

from qcompiler.analysis.macs import macs
from qcompiler.targets import Target

RESOURCES = ("size", "bops", "latency")


def _numel(shape) -> int:
    return math.prod(d if isinstance(d, int) else 1 for d in shape)


def activation_bytes(node, a_bits: int) -> float:
    """Bytes of the layer's input and output activations at `a_bits`."""
    return (_numel(node.inputs[0].type.shape) + _numel(node.outputs[0].type.shape)) * a_bits / 8


def layer_costs(layer, w_bits: int, a_bits: int, target: Target) -> dict:
    node = layer.node
    weight_bytes = layer.params * w_bits / 8
    count = macs(node)
    return {"size": weight_bytes,
            "bops": float(count * w_bits * a_bits),
            "latency": target.cost.layer_latency_ns(count, max(w_bits, a_bits),
                                                    weight_bytes + activation_bytes(node, a_bits))}
