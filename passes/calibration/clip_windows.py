"""Scoring a tie group's candidate quantization by the error at the end of its block.

The fake-quant graph (`quantized`) and the calibrated float graph stream side by side in
graph order (rounding/streams.py), on the scored samples: a group's window starts at the
first node producing one of its values, so its inputs carry the quantization chosen for
every group before it, and ends `depth` layers after the last such node (the graph's end
when depth is 0). A candidate is applied by giving the group's values its types; the
window then runs on the quantized stream's values, and the float window on the float
stream's, and the error is the relative squared error ‖y_q − y‖² / ‖y‖² summed over the
window's outputs (values read after it, and graph outputs).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from qcompiler.ir.core import Graph

from ..quantize.op_classes import INTEGER_OPS, PASS_THROUGH_OPS
from ..rounding.streams import Stream
from ..rounding.unit_graph import segment_module
from ..rounding.units import segment_of

CHUNK = 16  # samples per module call


@dataclass
class Group:
    """Values of the quantized graph that share parameters, by name, with the node
    positions producing them; `sources` names the calibrated values whose ranges they
    take; `candidates` maps a method to the members' types."""

    members: list = field(default_factory=list)      # (position, value name)
    sources: set = field(default_factory=set)
    candidates: dict = field(default_factory=dict)   # method -> [type per member]

    @property
    def first(self) -> int:
        return min(p for p, _ in self.members)

    @property
    def last(self) -> int:
        return max(p for p, _ in self.members)


class WindowScorer:
    """Streams of one batch of scored samples through both graphs, advanced group by group."""

    def __init__(self, quantized: Graph, float_graph: Graph, inputs: list, depth: int):
        self.quantized, self.float_graph, self.depth = quantized, float_graph, depth
        self.nodes = [n for n in quantized.nodes if n.op != "const"]
        self.float_nodes = {n.outputs[0].name: n for n in float_graph.nodes if n.op != "const" and n.outputs}
        self.by_name = {v.name: v for v in quantized.values()}
        self.streams = [(Stream(quantized, batch, CHUNK), Stream(float_graph, batch, CHUNK)) for batch in inputs]
        self.position = 0           # nodes [0, position) of `nodes` have run in the streams
        self.float_position = 0     # same, in the float graph's order
        self.float_order = [n for n in float_graph.nodes if n.op != "const"]

    def window(self, group: Group) -> list:
        """The quantized graph's nodes from the group's first producer to `depth` layers
        after its last."""
        end, layers = len(self.nodes), 0
        for k in range(group.last + 1, len(self.nodes)):
            layers += self.nodes[k].op in INTEGER_OPS and self.nodes[k].op not in PASS_THROUGH_OPS
            if self.depth and layers == self.depth:
                end = k + 1
                break
        return self.nodes[group.first:end]

    def advance(self, position: int) -> None:
        """Run both streams up to (not including) node `position` of the quantized graph."""
        if position <= self.position:
            return
        done = {n.outputs[0].name for n in self.nodes[:position]}
        upto = self.float_position
        while upto < len(self.float_order) and self.float_order[upto].outputs[0].name in done:
            upto += 1
        ahead = self.nodes[self.position:position]
        behind = self.float_order[self.float_position:upto]
        for q_stream, f_stream in self.streams:
            if ahead:
                q_stream.run(segment_of(self.quantized, ahead))
            if behind:
                f_stream.run(segment_of(self.float_graph, behind))
        self.position, self.float_position = position, upto

    def targets(self, window: list) -> list:
        """Per batch, name -> float value of the float window's outputs."""
        nodes = [self.float_nodes[n.outputs[0].name] for n in window if n.outputs[0].name in self.float_nodes]
        if not nodes:
            return [{} for _ in self.streams]
        segment = segment_of(self.float_graph, nodes)
        module = segment_module(self.float_graph, segment, nodes)
        return [dict(zip([v.name for v in segment.outputs], _run(module, f_stream.get(segment.inputs))))
                for _, f_stream in self.streams]

    def error(self, window: list, targets: list) -> float:
        """Relative squared error of the quantized window (with its values' current types)."""
        segment = segment_of(self.quantized, window)
        module = segment_module(self.quantized, segment, window)
        total = 0.0
        for (q_stream, _), expected in zip(self.streams, targets):
            outputs = _run(module, q_stream.get(segment.inputs))
            for v, y in zip(segment.outputs, outputs):
                if v.name in expected:
                    ref = expected[v.name].double()
                    total += float(((y.double() - ref) ** 2).sum() / (ref ** 2).sum().clamp_min(1e-30))
        return total

    def set_types(self, group: Group, types: list) -> None:
        for (_, name), t in zip(group.members, types):
            self.by_name[name].type = t


def _run(module, inputs: list) -> list:
    count = inputs[0].shape[0]
    with torch.no_grad():
        parts = [module(*[x[start:start + CHUNK] for x in inputs]) for start in range(0, count, CHUNK)]
    return [torch.cat([p[i] for p in parts]) for i in range(len(parts[0]))]
