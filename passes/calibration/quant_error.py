"""Mean squared quantization error of candidate ranges, computed with the compiler's own
affine numerics (params_from_range + fake_quantize) so that the ranges calibration
picks are optimal for exactly the arithmetic the quantizer and backends use."""
from __future__ import annotations

from typing import Optional

import numpy as np

from qcompiler.ir.types import STORAGE_RANGES, QuantType
from qcompiler.numerics.affine import fake_quantize, params_from_range

from .errors import CalibrationError


def storage_for_bits(bits: int) -> str:
    """The signed storage of `bits` bits. Asymmetric ranges use it too: the number of
    levels (hence the error) does not depend on where the zero point sits."""
    name = f"i{int(bits)}"
    if name not in STORAGE_RANGES:
        widths = sorted(int(s[1:]) for s in STORAGE_RANGES if s.startswith("i"))
        raise CalibrationError(f"no integer storage of {bits} bits; supported widths: {widths}")
    return name


def quantization_mse(rows: np.ndarray, lo, hi, bits: int, symmetric: bool,
                     weights: Optional[np.ndarray] = None) -> np.ndarray:
    """E[(x − Q(x))²] of each row of `rows` ([C, M]) quantized with its own range
    (`lo`, `hi` of shape [C]); `weights` ([M] or [C, M]) weigh the samples."""
    rows = np.asarray(rows, np.float32)
    scale, zp = params_from_range(np.asarray(lo), np.asarray(hi), storage_for_bits(bits), symmetric)
    t = QuantType(storage_for_bits(bits), "f32", rows.shape, scale.reshape(-1), zp.reshape(-1), axis=0)
    err = np.square(rows.astype(np.float64) - fake_quantize(rows, t))
    if weights is None:
        return err.mean(axis=1)
    weights = np.broadcast_to(weights, rows.shape)
    return (err * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), np.finfo(np.float64).tiny)
