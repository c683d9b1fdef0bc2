"""KeepFloat: a copy of the graph as it last stood with no quantized value.

Whatever the pipeline, that is the float model the quantized one is compared with: it
has been through the float rewrites (folded, fused: the same layers, the same value
names) and calibration, but not through quantization.
"""
from __future__ import annotations

from typing import Optional

from ..ir.clone import clone
from ..ir.core import Graph
from ..ir.types import is_quantized
from ..passmanager import Instrument


class KeepFloat(Instrument):
    def __init__(self):
        self.graph: Optional[Graph] = None

    def before_pass(self, p, graph, ctx) -> None:
        self._keep_if_float(graph)

    def exit_pipeline(self, graph, ctx) -> None:
        self._keep_if_float(graph)

    def _keep_if_float(self, graph: Graph) -> None:
        if not any(is_quantized(v.type) for v in graph.values()):
            self.graph = clone(graph)
