"""TimePasses: wall time of every pass run, as records and a table."""
from __future__ import annotations

import time
from dataclasses import dataclass

from ..passmanager import Instrument


@dataclass
class PassTime:
    name: str
    seconds: float


class TimePasses(Instrument):
    """One record per pass run, in run order (a pass run twice appears twice)."""

    def __init__(self):
        self.records: list[PassTime] = []
        self._start = 0.0

    def before_pass(self, p, graph, ctx) -> None:
        self._start = time.perf_counter()

    def after_pass(self, p, graph, ctx, result) -> None:
        self.records.append(PassTime(p.name, time.perf_counter() - self._start))

    @property
    def total(self) -> float:
        return sum(r.seconds for r in self.records)

    def table(self) -> str:
        width = max([len("pass"), len("total")] + [len(r.name) for r in self.records])
        total = self.total or 1.0
        lines = [f"{'#':>3}  {'pass':<{width}}  {'ms':>10}  {'%':>6}"]
        for i, r in enumerate(self.records, 1):
            lines.append(f"{i:>3}  {r.name:<{width}}  {r.seconds * 1e3:>10.3f}  {100 * r.seconds / total:>6.1f}")
        lines.append(f"{'':>3}  {'total':<{width}}  {self.total * 1e3:>10.3f}  {100.0:>6.1f}")
        return "\n".join(lines)
