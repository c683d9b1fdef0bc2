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


# numpy's error model: a float division without the zero check that keeps the loop
# scalar (scales are >= float32's tiny, never 0), so the candidates vectorize
@lazy_njit(error_model="numpy")
def _candidate_errors(rows, scale, zero_point, qmin, qmax, weights):
    """Per row c and candidate k, sum_m(w · (x − fake_quantize_k(x))²) / sum_m(w), with
    fake_quantize as numerics.affine does it: q = clip(rint(x / s in float32) + zp),
    x̂ = float32((q − zp) · s in float64). `scale` and `zero_point` are [C, K]. The
    candidates are the inner loop: their sums are independent, so they vectorize (3x on
    a [1536, 384] weight) and the row is read once, while each sum still adds its terms
    in element order (what a loop over one candidate at a time adds, bit for bit)."""
    channels, count = rows.shape
    candidates = scale.shape[1]
    out = np.empty((candidates, channels))
    for c in range(channels):
        total = np.zeros(candidates)
        mass = 0.0
        for m in range(count):
            x = rows[c, m]
            w = weights[c, m]
            mass += w
            for k in range(candidates):
                s, zp = scale[c, k], zero_point[c, k]
                q = min(max(np.float64(np.rint(x / s)) + zp, qmin), qmax)
                e = np.float64(x) - np.float64(np.float32((q - zp) * np.float64(s)))
                total[k] += w * e * e
        out[:, c] = total / max(mass, np.finfo(np.float64).tiny)
    return out


def candidate_mse(rows: np.ndarray, lo, hi, bits: int, symmetric: bool,
                  weights: Optional[np.ndarray] = None) -> np.ndarray:
    """E[(x − Q(x))²] of each row of `rows` ([C, M]) under each of K candidate ranges
    (`lo`, `hi` of shape [K, C]), as a [K, C] array; `weights` ([M] or [C, M]) weigh
    the samples."""
    rows = np.asarray(rows, np.float32)
    qmin, qmax = signed_levels(bits)
    lo, hi = np.broadcast_arrays(np.asarray(lo, np.float64), np.asarray(hi, np.float64))
    if lo.ndim != 2 or lo.shape[1] != rows.shape[0]:
        raise CalibrationError(f"candidate ranges must be [K, {rows.shape[0]}] for {rows.shape[0]} rows, "
                               f"got {list(lo.shape)}")
    scale, zp = params_for_levels(lo, hi, qmin, qmax, symmetric)
    weights = np.ones(1) if weights is None else np.asarray(weights, np.float64)
    return _candidate_errors(rows, np.ascontiguousarray(scale.T), np.ascontiguousarray(zp.T), float(qmin),
                             float(qmax), np.broadcast_to(weights, rows.shape))


def quantization_mse(rows: np.ndarray, lo, hi, bits: int, symmetric: bool,
                     weights: Optional[np.ndarray] = None) -> np.ndarray:
    """E[(x − Q(x))²] of each row of `rows` ([C, M]) quantized with its own range
    (`lo`, `hi` of shape [C]); `weights` ([M] or [C, M]) weigh the samples."""
    channels = np.shape(rows)[0]
    lo = np.broadcast_to(np.asarray(lo, np.float64).reshape(-1), (channels,))
    hi = np.broadcast_to(np.asarray(hi, np.float64).reshape(-1), (channels,))
    return candidate_mse(rows, lo[None], hi[None], bits, symmetric, weights)[0]
