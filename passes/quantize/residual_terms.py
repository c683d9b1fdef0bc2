"""A weight as a sum of quantized terms, W ~ s1*Q1 + s2*Q2 + ...: each term quantizes
what the previous ones left (the residual), symmetric, one scale per output channel,
the scale chosen by minimum squared error over clipping candidates (MMSE), not by the
largest magnitude: a residual is dominated by a few large errors the max scale would
spend all its steps on."""
from __future__ import annotations

import numpy as np

from qcompiler.ir.types import STORAGE_RANGES

# clipping candidates, as fractions of each channel's largest magnitude
CLIP_FRACTIONS = np.linspace(0.3, 1.0, 36)


def _rows(w: np.ndarray, axis: int) -> np.ndarray:
    return np.moveaxis(np.asarray(w, np.float64), axis, 0).reshape(w.shape[axis], -1)


def _quantize_rows(rows: np.ndarray, scale: np.ndarray, storage: str) -> np.ndarray:
    qmin, qmax = STORAGE_RANGES[storage]
    return np.clip(np.round(rows / scale[:, None]), qmin, qmax)


def max_scales(w: np.ndarray, storage: str, axis: int = 0) -> np.ndarray:
    """The per-channel symmetric scale that just covers each channel's largest magnitude."""
    peak = np.abs(_rows(w, axis)).max(axis=1)
    return _nonzero(peak / STORAGE_RANGES[storage][1])


def _nonzero(scale: np.ndarray) -> np.ndarray:
    # an all-zero channel quantizes to zeros under any scale; 1.0 keeps the type valid
    return np.where(scale > 0, scale, 1.0).astype(np.float32)


def mmse_scales(w: np.ndarray, storage: str, axis: int = 0) -> np.ndarray:
    """Per channel, the candidate scale with the least squared quantization error."""
    rows = _rows(w, axis)
    best = max_scales(w, storage, axis).astype(np.float64)
    peak_scale = best.copy()
    best_error = np.full(rows.shape[0], np.inf)
    for fraction in CLIP_FRACTIONS:
        scale = np.float32(fraction) * peak_scale.astype(np.float32)
        scale = _nonzero(scale).astype(np.float64)
        error = ((rows - _quantize_rows(rows, scale, storage) * scale[:, None]) ** 2).sum(axis=1)
        better = error < best_error
        best = np.where(better, scale, best)
        best_error = np.where(better, error, best_error)
    return best.astype(np.float32)


def dequantize_per_channel(q: np.ndarray, scale: np.ndarray, axis: int = 0) -> np.ndarray:
    shape = [1] * q.ndim
    shape[axis] = -1
    return q.astype(np.float32) * scale.astype(np.float32).reshape(shape)


def _greedy_terms(rows: np.ndarray, terms: int, storage: str, first_scale=None) -> list:
    """[(integer rows, scale)]: each term at the MMSE scale of what is left (the first at
    `first_scale` when given)."""
    out, residual = [], rows
    for k in range(terms):
        scale = first_scale if k == 0 and first_scale is not None else mmse_scales(residual, storage)
        q = _quantize_rows(residual, scale.astype(np.float64), storage)
        out.append((q, scale))
        residual = residual - q * scale.astype(np.float64)[:, None]
    return out


def residual_terms(w: np.ndarray, terms: int, storage: str, axis: int = 0) -> list:
    """[(integers, per-channel scale), ...]: term k quantizes w minus the terms before it.
    Every term after the first takes the MMSE scale of its residual; the first term's
    scale is searched too, per channel, for the least error of the whole sum (the
    first term's own MMSE scale clips outliers the next, finer term must then cover)."""
    if terms < 1:
        raise ValueError(f"terms must be at least 1, got {terms}")
    rows = _rows(w, axis)
    if terms == 1:
        found = _greedy_terms(rows, 1, storage)
    else:
        found, best_error = None, np.full(rows.shape[0], np.inf)
        peak_scale = max_scales(rows, storage)
        for fraction in CLIP_FRACTIONS:
            candidate = _greedy_terms(rows, terms, storage, _nonzero(np.float32(fraction) * peak_scale))
            error = ((rows - sum(q * s.astype(np.float64)[:, None] for q, s in candidate)) ** 2).sum(axis=1)
            better = error < best_error
            best_error = np.where(better, error, best_error)
            found = candidate if found is None else [(np.where(better[:, None], q, q0), np.where(better, s, s0))
                                                      for (q, s), (q0, s0) in zip(candidate, found)]
    moved = np.moveaxis(np.empty(w.shape, np.int8), axis, 0).shape
    return [(np.moveaxis(q.reshape(moved), 0, axis).astype(np.int8), s.astype(np.float32)) for q, s in found]


def reconstruct(terms: list, axis: int = 0) -> np.ndarray:
    return sum(dequantize_per_channel(q, s, axis) for q, s in terms)
