"""Layer pairs a target runs as one kernel (`[fusion] pairs` in its description), which
must therefore take one choice: "depthwise-pointwise" pairs a depthwise conv (groups ==
C_in == C_out) with the single pointwise conv (1x1 kernel, groups 1) that reads its
result, directly or through one activation the kernel applies in between (fused into
the depthwise conv as its `activation` attribute, or a standalone activation op
fuse-activations would fuse). A result with any other reader (a squeeze-excite gate, a
graph output) is not fused: that reader needs the intermediate in memory.
"""
from __future__ import annotations

from typing import Optional

from qcompiler.ir.core import Node, Value

from ..fusion.fuse_activations import FUSABLE

CONVS = ("conv1d", "conv2d")


def depthwise_pointwise_pairs(layers: list) -> list:
    """(i, j) index pairs into `layers`: layer i is depthwise, layer j the pointwise conv reading it."""
    index = {id(layer.node): i for i, layer in enumerate(layers)}
    pairs = []
    for i, layer in enumerate(layers):
        if _is_depthwise(layer.node):
            reader = _sole_reader(layer.node.outputs[0])
            if reader is not None and reader.op in FUSABLE and not layer.node.attrs.get("activation"):
                reader = _sole_reader(reader.outputs[0])
            if reader is not None and id(reader) in index and _is_pointwise(reader):
                pairs.append((i, index[id(reader)]))
    return pairs


def _sole_reader(v: Value) -> Optional[Node]:
    return v.uses[0][0] if len(v.uses) == 1 and not _is_graph_output(v) else None


def _is_graph_output(v: Value) -> bool:
    graph = v.producer.graph if v.producer is not None else None
    return graph is not None and any(o is v for o in graph.outputs)


def _is_depthwise(node: Node) -> bool:
    if node.op not in CONVS or len(node.inputs) < 2:
        return False
    groups = node.attrs.get("groups", 1)
    w, x = node.inputs[1].type.shape, node.inputs[0].type.shape
    return groups > 1 and w[0] == groups and w[1] == 1 and x[1] == groups


def _is_pointwise(node: Node) -> bool:
    if node.op not in CONVS or node.attrs.get("groups", 1) != 1:
        return False
    return all(k == 1 for k in node.inputs[1].type.shape[2:])
