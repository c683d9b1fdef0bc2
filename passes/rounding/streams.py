"""A graph's values on the calibration samples, computed segment by segment in graph
order: the quantized graph's (each unit run once its rounding is written, so the units
after it see its rounded outputs) and the float graph's (the targets). Each value is
kept until its last reader has run, so memory holds the live values of all samples,
never every activation.
"""
from __future__ import annotations

import torch

from qcompiler.ir.core import Graph

from .unit_graph import segment_module
from .units import Segment


class Stream:
    def __init__(self, graph: Graph, inputs: list, chunk: int):
        self.graph, self.chunk = graph, chunk
        self.nodes = {n.outputs[0].name: n for n in graph.nodes if n.outputs}
        self.by_name = {v.name: v for v in graph.values()}
        self.values = {v.name: x for v, x in zip(graph.inputs, inputs)}
        self.count = inputs[0].shape[0]
        self.done: set = set()

    def get(self, values) -> list:
        return [self.values[v.name] for v in values]

    def run(self, segment: Segment) -> list:
        """Compute `segment` (a segment of the quantized graph, found here by names);
        returns its outputs."""
        nodes = [self.nodes[n.outputs[0].name] for n in segment.nodes]
        module = segment_module(self.graph, segment, nodes)
        inputs = self.get(segment.inputs)
        with torch.no_grad():
            parts = [module(*[x[start:start + self.chunk] for x in inputs])
                     for start in range(0, self.count, self.chunk)]
        outputs = [torch.cat([p[i] for p in parts]) for i in range(len(segment.outputs))]
        self.values.update({v.name: x for v, x in zip(segment.outputs, outputs)})
        self.done.update(id(n) for n in nodes)
        self._release()
        return outputs

    def _release(self) -> None:
        """Drop values every reader of which has run."""
        for name in list(self.values):
            if all(id(user) in self.done for user in self.by_name[name].users):
                del self.values[name]
