"""NumericsCheck: which pass, and which layer in it, lost accuracy.

The graph runs in the numpy reference interpreter on sample inputs before and after
every pass. Outputs are compared by position, layers by value name (passes that replace
a node keep the replaced value's name), so a layer is comparable across a pass exactly
when its name survives it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ..ir.errors import QIRError
from ..numerics.sqnr import sqnr_db
from ..passmanager import Instrument
from ..runtime.reference import run_graph


class NumericsError(QIRError):
    """A pass dropped the SQNR of a layer below the threshold (strict mode)."""


@dataclass
class NumericsRecord:
    pass_name: str
    outputs_db: list  # SQNR of each graph output, after vs before the pass
    layers_db: dict = field(default_factory=dict)  # value name -> SQNR, in graph order
    first_bad_layer: Optional[str] = None

    @property
    def worst_layer(self) -> Optional[str]:
        """The layer with the lowest SQNR, or None when every layer is exact."""
        worst = min(self.layers_db, key=self.layers_db.get, default=None)
        return worst if worst is not None and self.layers_db[worst] < math.inf else None


class NumericsCheck(Instrument):
    """`inputs`: one sample for `run_graph` (arrays in graph-input order, or a dict by
    name). A pass whose outputs or layers fall below `threshold_db` gets a warning naming
    the pass and the first such layer; with `strict=True` it raises NumericsError."""

    def __init__(self, inputs, threshold_db: float = 40.0, strict: bool = False):
        self.inputs = inputs
        self.threshold_db = threshold_db
        self.strict = strict
        self.records: list[NumericsRecord] = []
        self._before: tuple = ([], {})

    def enter_pipeline(self, graph, ctx) -> None:
        self._before = self._run(graph)

    def after_pass(self, p, graph, ctx, result) -> None:
        # the graph only changes inside passes, so the state after one pass is the
        # state before the next: one run per pass is enough
        before_outs, before_values = self._before
        after_outs, after_values = self._run(graph)
        self._before = (after_outs, after_values)
        record = NumericsRecord(p.name, [sqnr_db(b, a) for b, a in zip(before_outs, after_outs)])
        for name, array in after_values.items():
            if name in before_values and np.shape(before_values[name]) == np.shape(array):
                record.layers_db[name] = sqnr_db(before_values[name], array)
        record.first_bad_layer = next((n for n, db in record.layers_db.items() if db < self.threshold_db), None)
        self.records.append(record)
        bad_outputs = [i for i, db in enumerate(record.outputs_db) if db < self.threshold_db]
        if record.first_bad_layer is None and not bad_outputs:
            return
        message = self._describe(record, bad_outputs)
        ctx.warn(message, node=record.first_bad_layer or "")
        if self.strict:
            raise NumericsError(message)

    def _run(self, graph) -> tuple:
        outs, values = run_graph(graph, self.inputs, keep=True)
        computed = {v.name for n in graph.nodes if n.op != "const" for v in n.outputs}
        layers = {name: a for name, a in values.items() if name in computed and _numeric(a)}
        return outs, layers

    def _describe(self, r: NumericsRecord, bad_outputs: list) -> str:
        parts = [f"pass '{r.pass_name}' lost accuracy (threshold {self.threshold_db:g} dB)"]
        if r.first_bad_layer is not None:
            parts.append(f"first at layer %{r.first_bad_layer}: {_db(r.layers_db[r.first_bad_layer])}")
        if bad_outputs:
            parts.append("outputs " + ", ".join(f"#{i}: {_db(r.outputs_db[i])}" for i in bad_outputs))
        return "; ".join(parts)

    def table(self) -> str:
        width = max([len("pass")] + [len(r.pass_name) for r in self.records])
        lines = [f"{'pass':<{width}}  {'min output dB':>13}  {'worst layer':<24}  {'dB':>8}"]
        for r in self.records:
            out_db = min(r.outputs_db) if r.outputs_db else math.inf
            worst = r.worst_layer
            worst_db = r.layers_db[worst] if worst else math.inf
            lines.append(f"{r.pass_name:<{width}}  {_db(out_db, unit=False):>13}  {('%' + worst) if worst else '-':<24}  "
                         f"{_db(worst_db, unit=False):>8}")
        return "\n".join(lines)


def _numeric(a) -> bool:
    return isinstance(a, np.ndarray) and a.dtype.kind in "fiu"


def _db(x: float, unit: bool = True) -> str:
    text = "exact" if x == math.inf else ("-inf" if x == -math.inf else f"{x:.1f}")
    return f"{text} dB" if unit and math.isfinite(x) else text
