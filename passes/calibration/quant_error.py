"""Mean squared quantization error of candidate ranges, computed with the compiler's own
affine numerics (params_from_range, and quantize/dequantize's arithmetic step by step)
so that the ranges calibration picks are optimal for exactly the arithmetic the
quantizer and backends use."""
from __future__ import annotations

from typing import Optional

import numpy as np

from qcompiler.ir.types import STORAGE_RANGES
from qcompiler.numerics.affine import params_for_levels

from .errors import CalibrationError
from .lazy_jit import lazy_njit


def storage_for_bits(bits: int) -> str:
    """The signed storage of `bits` bits. Asymmetric ranges use it too: the number of
    levels (hence the error) does not depend on where the zero point sits."""
    name = f"i{int(bits)}"
    if name not in STORAGE_RANGES:
        widths = sorted(int(s[1:]) for s in STORAGE_RANGES if s.startswith("i"))
        raise CalibrationError(f"no integer storage of {bits} bits; supported widths: {widths}")
    return name


def signed_levels(bits: int) -> tuple:
    """[qmin, qmax] of a signed `bits`-bit integer: a storage's, or a narrower width
    inside one (7-bit weights in i8 storage)."""
    if not 2 <= int(bits) <= 32:
        raise CalibrationError(f"no integer range of {bits} bits; widths from 2 to 32")
    return -(2 ** (int(bits) - 1)), 2 ** (int(bits) - 1) - 1


@lazy_njit
def _weighted_errors(rows, scale, zero_point, qmin, qmax, weights):
    """Per row c, sum(w · (x − fake_quantize(x))²) / sum(w), fake_quantize as
    numerics.affine does it: q = clip(rint(x / s in float32) + zp), x̂ = float32((q − zp) · s
    in float64); one pass, without the [C, M] temporaries."""
    out = np.empty(rows.shape[0])
    for c in range(rows.shape[0]):
        s, zp = scale[c], zero_point[c]
        total = mass = 0.0
        for m in range(rows.shape[1]):
            x = rows[c, m]
            q = min(max(np.float64(np.rint(x / s)) + zp, qmin), qmax)
            e = np.float64(x) - np.float64(np.float32((q - zp) * np.float64(s)))
            total += weights[c, m] * e * e
            mass += weights[c, m]
        out[c] = total / max(mass, np.finfo(np.float64).tiny)
    return out


def quantization_mse(rows: np.ndarray, lo, hi, bits: int, symmetric: bool,
                     weights: Optional[np.ndarray] = None) -> np.ndarray:
    """E[(x − Q(x))²] of each row of `rows` ([C, M]) quantized with its own range
    (`lo`, `hi` of shape [C]); `weights` ([M] or [C, M]) weigh the samples."""
    rows = np.asarray(rows, np.float32)  # candidates sharing one row come as a broadcast view
    qmin, qmax = signed_levels(bits)
    scale, zp = params_for_levels(np.asarray(lo), np.asarray(hi), qmin, qmax, symmetric)
    scale = np.broadcast_to(scale.reshape(-1), rows.shape[:1])
    zp = np.broadcast_to(zp.reshape(-1), rows.shape[:1])
    weights = np.ones(1) if weights is None else np.asarray(weights, np.float64)
    return _weighted_errors(rows, np.ascontiguousarray(scale), np.ascontiguousarray(zp), float(qmin), float(qmax),
                            np.broadcast_to(weights, rows.shape))
