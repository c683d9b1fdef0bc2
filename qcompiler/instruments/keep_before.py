"""KeepBefore: a copy of the graph as it stood just before a named pass last ran.

`compile` keeps the fake-quant graph (the one just before `lower`): ONNX's QDQ form is
written from it, since QDQ spells quantization with float ops, not integer ones.
"""
from __future__ import annotations

from typing import Optional

from ..ir.clone import clone
from ..ir.core import Graph
from ..passmanager import Instrument


class KeepBefore(Instrument):
    def __init__(self, pass_name: str):
        self.pass_name = pass_name
        self.graph: Optional[Graph] = None

    def before_pass(self, p, graph, ctx) -> None:
        if p.name == self.pass_name:
            self.graph = clone(graph)
