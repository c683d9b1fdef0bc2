"""Trial quantizations: the calibrated float graph copied, the chosen layers marked
`q.keep_float`, and the trial passes (the pipeline's own `quantize` and what follows it
up to `lower`) run on the copy, so a trial scores what the real pipeline will build.
Trials keep their diagnostics to themselves: the real quantize reports once."""
from __future__ import annotations

from typing import Iterable

from qcompiler.ir.clone import clone
from qcompiler.ir.core import Graph
from qcompiler.passmanager import PassContext, PassManager

from ..quantize.keep_float import KEEP_FLOAT
from .validation import Score, Validation


def node_by_result(graph: Graph) -> dict:
    return {node.outputs[0].name: node for node in graph.nodes if node.outputs}


def mark(graph: Graph, layers: Iterable[str]) -> None:
    """Mark the layers named by their first result."""
    nodes = node_by_result(graph)
    for name in layers:
        nodes[name].attrs[KEEP_FLOAT] = True


class Trials:
    """Scores of the graph quantized with given layers kept float, memoized by layer set."""

    def __init__(self, graph: Graph, passes: list, validation: Validation, ctx):
        self.graph, self.passes, self.validation, self.ctx = graph, passes, validation, ctx
        self.scores: dict = {}

    def quantized(self, kept: Iterable[str]) -> Graph:
        g = clone(self.graph)
        mark(g, kept)
        ctx = PassContext(target=self.ctx.target, calibration=self.ctx.calibration,
                          example_inputs=self.ctx.example_inputs, seed=self.ctx.seed, options=dict(self.ctx.options))
        PassManager(self.passes).run(g, ctx)
        return g

    def score(self, kept: Iterable[str]) -> Score:
        key = frozenset(kept)
        if key not in self.scores:
            self.scores[key] = self.validation.score(self.quantized(key))
        return self.scores[key]
