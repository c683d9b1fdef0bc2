"""Degenerate ranges: a range of (nearly) zero width, such as an output channel whose
weights fold-bn zeroed or an activation that was 0 on every calibration sample.

Such a range yields a scale of about float32 `tiny`, and the products of scales the
lowering forms (the accumulator scale s_x · s_w, the multiplier s_x · s_w / s_out)
underflow to 0 or overflow to inf. Any scale represents 0 exactly, so a degenerate
range is replaced by one whose scale is ordinary: for a weight channel, the range of
the tensor's widest channel (biases of the channel keep the resolution of its
neighbours); with no such channel, or for an activation, the unit range [-1, 1].
"""
from __future__ import annotations

import numpy as np

# scales below 2^-60 are degenerate: a product of two of them stays a normal float32
# (>= 2^-126), so accumulator scales and requantization multipliers stay finite and > 0
MIN_SCALE = 2.0 ** -60
UNIT_RANGE = (-1.0, 1.0)


def degenerate(scale) -> np.ndarray:
    """Mask of the scales that are too small to take part in products of scales."""
    return np.asarray(scale, np.float64) < MIN_SCALE


def replace_degenerate(lo: np.ndarray, hi: np.ndarray, scale: np.ndarray) -> tuple:
    """(lo, hi) per parameter with each degenerate one taking the range of the parameter
    with the largest scale, or UNIT_RANGE when every one is degenerate; the mask of the
    replaced ones. `lo`, `hi` and `scale` are 1-D, one entry per parameter."""
    mask = degenerate(scale)
    if not mask.any():
        return lo, hi, mask
    lo, hi = lo.copy(), hi.copy()
    if mask.all():
        lo[mask], hi[mask] = UNIT_RANGE
    else:
        widest = int(np.argmax(np.where(mask, -np.inf, scale)))
        lo[mask], hi[mask] = lo[widest], hi[widest]
    return lo, hi, mask


def describe_channels(mask: np.ndarray, limit: int = 8) -> str:
    """'channel 72' / 'channels 3, 9 and 4 more' for diagnostics."""
    index = [int(i) for i in np.flatnonzero(mask)]
    shown = ", ".join(str(i) for i in index[:limit])
    more = f" and {len(index) - limit} more" if len(index) > limit else ""
    return f"channel{'s' if len(index) > 1 else ''} {shown}{more}"
