"""Float ops left after the integer rules get explicit representation changes: each
quantized operand is dequantized (once per value, shared by its float readers) and each
quantized result is produced by a `quantize` after a float copy of the op, which says
why it stays float in `q.float` (float_reasons.py). Afterwards
every non-integer op computes in float, except pass-throughs running on storage."""
from __future__ import annotations

from collections import Counter

from qcompiler.ir.core import Graph, Node
from qcompiler.ir.ops.infer import plain
from qcompiler.ir.registry import get_op, is_opaque

from .float_reasons import float_reason
from .pass_through import runs_on_storage
from .quant_params import is_quant


def is_integer(node: Node) -> bool:
    return not is_opaque(node.op) and get_op(node.op).integer


def needs_float_boundary(node: Node) -> bool:
    if node.op == "const" or is_integer(node) or runs_on_storage(node):
        return False
    return any(v is not None and is_quant(v.type) for v in (*node.inputs, *node.outputs))


def insert_float_boundaries(graph: Graph) -> Counter:
    counts: Counter = Counter()
    dequantized: dict = {}  # id(quantized value) -> its dequantize result
    for node in graph.nodes:
        if not needs_float_boundary(node):
            continue
        inputs = []
        for v in node.inputs:
            if v is not None and is_quant(v.type):
                if id(v) not in dequantized:
                    dequantized[id(v)] = graph.add("dequantize", [v], name=f"{v.name}_float", before=node,
                                                   output_types=[plain(v.type)]).output
                    counts["dequantize"] += 1
                v = dequantized[id(v)]
            inputs.append(v)
        names = [v.name for v in node.outputs]
        attrs = {**node.attrs, "q.float": float_reason(node)}
        float_node = graph.add(node.op, inputs, attrs, name=f"{names[0]}_float", before=node,
                               output_types=[plain(v.type) for v in node.outputs])
        results = []
        for old, new in zip(node.outputs, float_node.outputs):
            if is_quant(old.type):
                new = graph.add("quantize", [new], before=node, output_types=[old.type]).output
                counts["quantize"] += 1
            results.append(new)
            old.replace_all_uses_with(new)
        graph.erase(node)
        for name, new in zip(names, results):
            graph.rename(new, name)
        counts["float"] += 1
    return counts
