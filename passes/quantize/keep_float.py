"""`q.keep_float = true` on a layer keeps it out of quantization: its weights stay float,
its results stay float, and it inserts no `quantize` on the operands it reads (an
operand stays quantized only where its producer quantizes its own result). accuracy-
control writes it on the layers that cost the most accuracy; it may be written by hand
too. A pass that keeps layers float for its own reason writes its name instead of true
(`q.keep_float = "transformer-recipe"`), so the report says who kept the layer. quantize
writes the reason as the layer's `q.float`, which `lower` keeps and the report shows."""
from __future__ import annotations

from qcompiler.ir.core import Graph, Node

from .errors import QuantizeError

KEEP_FLOAT = "q.keep_float"
KEPT_FLOAT = "kept float by accuracy control (q.keep_float)"


def kept_float(node: Node) -> bool:
    value = node.attrs.get(KEEP_FLOAT, False)
    if not isinstance(value, (bool, str)) or value == "":
        raise QuantizeError(f"node {node.label()}: {KEEP_FLOAT} = {value!r} is not true, false or the name "
                            "of the pass that keeps it")
    return value is not False


def kept_float_reason(node: Node) -> str:
    value = node.attrs[KEEP_FLOAT]
    return KEPT_FLOAT if value is True else f"kept float by {value} ({KEEP_FLOAT})"


def mark_kept_float(graph: Graph) -> int:
    """Write the `q.float` reason on every kept layer; returns how many there are."""
    kept = [node for node in graph.nodes if kept_float(node)]
    for node in kept:
        node.attrs["q.float"] = kept_float_reason(node)
    return len(kept)
