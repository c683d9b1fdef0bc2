"""The ranges `calibrate` recorded, read back per value (docs/quantization.md, stage 1)."""
from __future__ import annotations

from typing import Iterable, Optional

import numpy as np

from qcompiler.ir.core import Graph, Value

from .errors import QuantizeError

RUN_CALIBRATE = "run calibrate first"


def value_range(graph: Graph, v: Value) -> Optional[tuple]:
    """(lo, hi) of an activation: the graph input's `q.range` argument attribute, the
    producer's `q.range` (a list of pairs on multi-output nodes), or the exact extremes
    of a constant. None when calibration recorded nothing for it."""
    const = graph.const_value(v)
    if const is not None:
        return (float(const.min()), float(const.max())) if const.size else (0.0, 0.0)
    if v.producer is None:
        recorded = graph.input_attrs.get(v.name, {}).get("q.range")
    else:
        recorded = v.producer.attrs.get("q.range")
        if recorded is not None and len(v.producer.outputs) > 1:
            recorded = recorded[v.index] if v.index < len(recorded) else None
    if recorded is None:
        return None
    pair = np.asarray(recorded, np.float64).reshape(-1)
    if pair.size != 2 or not np.all(np.isfinite(pair)) or pair[0] > pair[1]:
        raise QuantizeError(f"%{v.name}: q.range = {recorded!r} is not a finite [lo, hi] pair; {RUN_CALIBRATE}")
    return float(pair[0]), float(pair[1])


def union_range(graph: Graph, values: Iterable[Value]) -> Optional[tuple]:
    """The smallest range covering every value's range (None if none has one)."""
    ranges = [r for r in (value_range(graph, v) for v in values) if r is not None]
    if not ranges:
        return None
    return min(r[0] for r in ranges), max(r[1] for r in ranges)


def missing_range(v: Value, consumer: str = "") -> QuantizeError:
    where = "graph input" if v.producer is None else f"result of {v.producer.label()}"
    why = f" (it feeds {consumer})" if consumer else ""
    return QuantizeError(f"quantize needs a calibrated range for %{v.name}, the {where}{why}, but it has "
                         f"no q.range: {RUN_CALIBRATE} (calibrate records q.range on every float activation)")
