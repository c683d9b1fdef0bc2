"""The roundings an integer conv / linear / matmul adds to the float product, which the
reference interpreter and the torch executor simulate so the fake-quant graph computes
what the integer kernels compute: the float bias rounded to the accumulator's i32 grid
(numerics/accumulator_bias.py), and a fused table activation (hardswish, sigmoid,
leaky_relu) applied to the product rounded to the lowering's 16-bit intermediate
(numerics/fused_activation.py). A binary (b1) result is a threshold on the exact
accumulator, so the product is first rounded to the accumulator's i32 grid at s_x·s_w
(numerics/binary_threshold.py): a float sum of an accumulator of 0 may be ±tiny, and its
sign would decide the bit."""
from __future__ import annotations

from typing import NamedTuple, Optional

from ..ir.codebook import codebook_of
from ..ir.core import Node, Value
from ..ir.ops.fused import FUSED_ACTIVATION_ATTRS
from ..ir.types import CodebookType, QuantType
from ..numerics.accumulator_bias import simulated_bias_type
from ..numerics.binary_threshold import accumulator_type
from ..numerics.fused_activation import TABLE_ACTIVATIONS, preactivation_type

# the products the lowering makes integer (passes/lowering/products.py)
PRODUCTS = ("conv1d", "conv2d", "linear", "matmul")


class ProductRounding(NamedTuple):
    bias: Optional[QuantType]          # the i32 type the float bias rounds to
    intermediate: Optional[QuantType]  # the table activation's input type
    product_attrs: dict                # the node's attributes without the table activation


def product_rounding(node: Node) -> Optional[ProductRounding]:
    """What to round in simulating `node`, or None when it is not an integer product."""
    if node.op not in PRODUCTS:
        return None
    x_t = node.inputs[0].type  # conv / linear also lower on binary activations
    binary_x = isinstance(x_t, QuantType) and x_t.storage == "b1" and x_t.axis is None and node.op != "matmul"
    if not (per_tensor_levels(x_t) or binary_x):  # no integer accumulator
        return None
    x, w, out = node.inputs[0].type, node.inputs[1].type, node.output.type
    bias = node.inputs[2] if len(node.inputs) > 2 else None
    bias_t = simulated_bias_type(x, _weight_scale(node.inputs[1]), bias.type) if bias is not None else None
    table = node.attrs.get("activation") in TABLE_ACTIVATIONS and per_tensor_levels(out) and isinstance(w, QuantType)
    mid = preactivation_type(node, out) if table else None
    if mid is None and isinstance(out, QuantType) and out.storage == "b1" and out.axis is None:
        mid = accumulator_type(x, _weight_scale(node.inputs[1]), out, node.op)  # a b1 result thresholds it
    if bias_t is None and mid is None:
        return None
    attrs = {k: v for k, v in node.attrs.items() if k not in FUSED_ACTIVATION_ATTRS} if mid else node.attrs
    return ProductRounding(bias_t, mid, attrs)


def _weight_scale(w: Value):
    """The scale(s) of a weight the accumulator counts in (codebook: its one scale), or None."""
    t = w.type
    if isinstance(t, QuantType) and t.group is None and t.bits <= 16:
        return t.scale.array
    if isinstance(t, CodebookType) and w.producer is not None and w.producer.op == "const":
        return codebook_of(w.producer)[1]
    return None


def per_tensor_levels(t) -> bool:
    """A per-tensor QuantType whose storage counts levels, so an integer accumulator can
    take it; b1 storage is a sign (a binary product thresholds instead). The lowering asks
    the same question (passes/lowering/quant_params.per_tensor)."""
    return isinstance(t, QuantType) and t.axis is None and t.group is None and t.storage != "b1"
