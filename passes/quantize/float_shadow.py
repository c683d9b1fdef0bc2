"""The float model a fake-quant graph was made from, run node by node beside it.

After `quantize` the float weights live in each weight constant's meta cache
(`float_value`) and every other op still names its float computation: running each node
on float arrays, with quantize / dequantize / requantize as the identity, gives the
float model's values under the quantized graph's value names (bias-correct{drift=true}
compares the two per layer).
"""
from __future__ import annotations

import numpy as np

from qcompiler.ir.core import Node
from qcompiler.ir.registry import get_op, is_opaque, run_reference
from qcompiler.runtime.opaque import run_opaque
from qcompiler.runtime.reference import as_float, run_node

from .errors import QuantizeError

IDENTITIES = ("quantize", "dequantize", "requantize")


def float_value(const: Node) -> np.ndarray:
    """A constant's float value: the float weight quantize replaced, else what it holds."""
    original = const.meta.get("float_value")
    if original is not None:
        return original
    return as_float(run_node(const, [])[0], const.output.type)


def run_float(node: Node, args: list) -> list:
    """`node`'s results on float `args`, as the float model computes them."""
    if node.op == "const":
        return [float_value(node)]
    if node.op in IDENTITIES:
        return [args[0]]
    if is_opaque(node.op):
        return run_opaque(node, args)
    if get_op(node.op).integer:
        raise QuantizeError(f"{node.label()}: integer op {node.op} has no float form to compare the quantized "
                            "graph with; run bias-correct before lower")
    return run_reference(node.op, args, node.attrs)
