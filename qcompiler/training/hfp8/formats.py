"""Number formats by name, for the HFP8 simulation's casts, accumulators and master weights.

Every format is a numerics/minifloat.py MinifloatFormat, so one rounding routine serves
FP8 and FP16 alike: "e4m3" (FP8 E4M3FN), "e5m2", "fp16" (E5M10, IEEE), "bf16" (E8M7),
any "eXmY" (IEEE-style bias 2^(X-1)-1, Inf/NaN codes reserved), or "fp32" (no rounding:
None). Rounding saturates at the largest finite value, as the FP8 casts do.
"""
from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
import torch

from ...numerics.minifloat import MinifloatFormat, positive_values

_NAMED = {
    "e4m3": MinifloatFormat(4, 3, 7, "fn"),
    "e5m2": MinifloatFormat(5, 2, 15, "ieee"),
    "fp16": MinifloatFormat(5, 10, 15, "ieee"),
    "bf16": MinifloatFormat(8, 7, 127, "ieee"),
}
_SHORT_FLOAT = re.compile(r"e(\d+)m(\d+)")


def resolve_format(name: str, option: str):
    """The MinifloatFormat called `name` (None for "fp32"); `option` names the setting in errors."""
    if not isinstance(name, str):
        raise TypeError(f"{option}: expected a format name such as 'fp16', got {name!r}")
    key = name.lower()
    if key == "fp32":
        return None
    if key in _NAMED:
        return _NAMED[key]
    match = _SHORT_FLOAT.fullmatch(key)
    if match is None:
        raise ValueError(f"{option}={name!r}: expected one of fp32, {', '.join(_NAMED)} or eXmY (e.g. e6m5)")
    e, m = int(match[1]), int(match[2])
    if not (2 <= e <= 8 and 1 <= m <= 10 and 1 + e + m <= 16):
        raise ValueError(f"{option}={name!r}: eXmY needs 2 <= X <= 8, 1 <= Y <= 10 and at most 16 bits")
    return MinifloatFormat(e, m, (1 << (e - 1)) - 1, "ieee")


@lru_cache(maxsize=None)
def magnitudes(fmt: MinifloatFormat) -> torch.Tensor:
    """The format's finite non-negative values, increasing (float64)."""
    return torch.from_numpy(np.array(positive_values(fmt), dtype=np.float64))


@lru_cache(maxsize=None)
def midpoints(fmt: MinifloatFormat) -> torch.Tensor:
    """Midpoints between consecutive magnitudes: the round-to-nearest decision points."""
    values = magnitudes(fmt)
    return (values[1:] + values[:-1]) / 2
