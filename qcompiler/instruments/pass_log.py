"""PassLog: per pass run, its wall time, node counts and a unified diff of the printed
IR (constants of more than 16 elements print as blob references, so the text stays
small). The HTML report shows it as the pipeline table and the IR diffs between passes."""
from __future__ import annotations

import difflib
import time
from dataclasses import dataclass

from ..ir.printer import print_graph
from ..passmanager import Instrument

# a diff longer than this keeps its first lines: a pass that rewrites a large model
# (quantize, lower) changes most lines, and the report shows what kind of change it is
MAX_DIFF_LINES = 400


@dataclass
class PassRecord:
    name: str
    seconds: float
    changed: bool
    nodes_before: int
    nodes_after: int
    diff: list  # unified diff lines, at most MAX_DIFF_LINES
    diff_lines: int  # the whole diff's length, to say what was left out


class PassLog(Instrument):
    def __init__(self):
        self.records: list[PassRecord] = []
        self._text = ""
        self._nodes = 0
        self._start = 0.0

    def enter_pipeline(self, graph, ctx) -> None:
        self._text, self._nodes = _printed(graph), len(graph.nodes)

    def before_pass(self, p, graph, ctx) -> None:
        self._start = time.perf_counter()

    def after_pass(self, p, graph, ctx, result) -> None:
        seconds = time.perf_counter() - self._start
        changed = bool(getattr(result, "changed", True))
        diff: list = []
        if changed:  # an unchanged graph prints the same; printing it again costs time only
            text = _printed(graph)
            diff = list(difflib.unified_diff(self._text.splitlines(), text.splitlines(), "before", "after",
                                             n=0, lineterm=""))
            self._text = text
        self.records.append(PassRecord(p.name, seconds, changed, self._nodes, len(graph.nodes),
                                       diff[:MAX_DIFF_LINES], len(diff)))
        self._nodes = len(graph.nodes)


def _printed(graph) -> str:
    return print_graph(graph, [])
