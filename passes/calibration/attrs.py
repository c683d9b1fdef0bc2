"""How calibrated ranges are written into attributes.

Bounds are float32 values written in their shortest decimal form, so dumps read
`q.range=[-1.5, 2.25]` rather than the float64 expansion of a float32."""
from __future__ import annotations

import numpy as np

from qcompiler.ir.dense import Dense


def _f32(x) -> float:
    return float(str(np.float32(x)))


def range_attr(lo, hi) -> list:
    """`[lo, hi]` of a tensor."""
    return [_f32(lo), _f32(hi)]


def channel_range_attr(lo, hi) -> Dense:
    """A dense f32[C, 2] of per-channel (lo, hi) rows."""
    return Dense(np.stack([np.asarray(lo), np.asarray(hi)], axis=1).astype(np.float32))


# what calibration records about a node's result
RESULT_ATTRS = ("q.range", "q.method")


def with_result_calibration(attrs: dict, source) -> dict:
    """`attrs` with the calibration of node `source`'s result in place of their own: for a
    rewrite whose node now computes what `source` computed (a fused activation, a folded
    batch norm, a moved bias add)."""
    return {**{k: v for k, v in attrs.items() if k not in RESULT_ATTRS},
            **{k: source.attrs[k] for k in RESULT_ATTRS if k in source.attrs}}
