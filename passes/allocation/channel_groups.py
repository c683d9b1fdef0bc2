"""`allocate-bits{granularity=channel-group:G}`: groups of G output channels as layers
of their own (AutoQB's channel-level bits), by a graph transformation the existing
quantizer, lowering and backends deploy unchanged.

A conv1d / conv2d (groups=1) or linear with a constant weight becomes one node per
group of G output channels — the same op and attributes, its own slice of the weight
and bias (constants whose `origin` gains the slice, `conv1.weight[0:8]`), its channel
range in `q.channels` — and a `concat` along the channel axis joining them under the
layer's name. The concat ties the groups' output parameters (quantize/ties.py), so it
runs on stored integers. Each group is an allocation variable with its own sensitivity
(group_sensitivity.py). Other layers stay whole and are scored as one group.
"""
from __future__ import annotations

from qcompiler.ir.core import Graph, Node
from qcompiler.ir.dense import Dense

from .errors import AllocationError
from .group_sensitivity import group_scores

# op -> axis of its result that holds the output channels
SPLITTABLE = {"conv1d": 1, "conv2d": 1, "linear": -1}
CALIBRATION_ATTRS = ("q.range", "q.method", "q.range_bits", "q.percentile")  # what calibrate writes


class GranularityError(AllocationError, ValueError):
    """A malformed granularity option (a ValueError too, so pipelines report it as a PipelineError)."""


def parse_granularity(text: str):
    """None for "layer", G for "channel-group:G"."""
    kind, _, size = str(text).partition(":")
    if kind == "layer" and not size:
        return None
    if kind == "channel-group" and size.isdigit() and int(size) > 0:
        return int(size)
    raise GranularityError(f"granularity '{text}' is not one of layer, channel-group:G (G > 0)")


def channel_bounds(channels: int, size: int) -> list:
    return [(start, min(start + size, channels)) for start in range(0, channels, size)]


def splittable(graph: Graph, layer) -> bool:
    node = layer.node
    bias = node.inputs[2] if len(node.inputs) > 2 else None
    return (node.op in SPLITTABLE and node.attrs.get("groups", 1) == 1 and len(layer.weights) == 1
            and layer.weights[0].axis == 0 and layer.weights[0].weight is node.inputs[1]
            and (bias is None or graph.const_value(bias) is not None)
            and isinstance(node.inputs[1].type.shape[0], int))


def split_into_channel_groups(graph: Graph, layers: list, size: int, widths, symmetric: bool) -> dict:
    """Split every splittable layer with more than `size` output channels and write
    `q.sens` for `widths` on every layer or group; returns stats."""
    split = groups = 0
    for layer in layers:
        channels = layer.node.inputs[1].type.shape[0] if splittable(graph, layer) else 1
        bounds = channel_bounds(channels, size) if channels > size else [(0, channels)]
        scores = group_scores(graph, layer, bounds, widths, symmetric)
        if len(bounds) == 1:
            layer.node.attrs["q.sens"] = scores[0]
            continue
        for part, part_scores in zip(_split(graph, layer.node, bounds), scores):
            part.attrs["q.sens"] = part_scores
        split += 1
        groups += len(bounds)
    return {"split": split, "groups": groups}


def _split(graph: Graph, node: Node, bounds: list) -> list:
    x, w = node.inputs[0], node.inputs[1]
    bias = node.inputs[2] if len(node.inputs) > 2 else None
    name = node.output.name
    parts = []
    for k, (start, stop) in enumerate(bounds):
        operands = [x, _slice(graph, w, start, stop, node)]
        if bias is not None:
            operands.append(_slice(graph, bias, start, stop, node))
        attrs = {**node.attrs, "q.channels": [start, stop]}
        parts.append(graph.add(node.op, operands, attrs, name=f"{name}_g{k}", before=node))
    joined = {"axis": SPLITTABLE[node.op], **{k: node.attrs[k] for k in CALIBRATION_ATTRS if k in node.attrs}}
    concat = graph.add("concat", [p.output for p in parts], joined, name=f"{name}_joined", before=node)
    node.output.replace_all_uses_with(concat.output)
    graph.erase(node)
    graph.rename(concat.output, name)
    for const in (w, bias):
        if const is not None and not const.uses and not any(o is const for o in graph.outputs):
            graph.erase(const.producer)
    return parts


def _slice(graph: Graph, v, start: int, stop: int, before: Node):
    """Rows start:stop of constant `v`, with its per-channel calibration rows and an
    origin naming the slice."""
    const = v.producer
    origin = const.attrs.get("origin")
    part = graph.constant(graph.const_value(v)[start:stop], name=f"{v.name}_{start}_{stop}",
                          origin=f"{origin}[{start}:{stop}]" if origin else None, before=before)
    for key in CALIBRATION_ATTRS:
        value = const.attrs.get(key)
        if isinstance(value, Dense) and value.array.ndim == 2:  # per-channel [C, 2] ranges
            value = Dense(value.array[start:stop])
        if value is not None:
            part.producer.attrs[key] = list(value) if isinstance(value, list) else value
    return part
