"""Truncated SVD of a weight matrix: the rank to keep and the two factors.

A conv weight [Cout, Cin, k...] is the matrix [Cout, Cin·k...]: each output channel is
one row over every (input channel, tap) pair. W = U·diag(s)·Vᵀ; keeping the r largest
singular values gives the best rank-r approximation in the Frobenius norm, with relative
error sqrt(1 − Σ_{i<r} s_i² / Σ s_i²) (Eckart–Young).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# cumulative energies are sums of floats: a requested energy of 1.0 must still be reached
ENERGY_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Factors:
    first: np.ndarray   # [r, in]: applied first (x ↦ first·x)
    second: np.ndarray  # [out, r]
    energy: float       # fraction of Σ s² kept

    @property
    def rank(self) -> int:
        return self.first.shape[0]


def singular_values(matrix: np.ndarray) -> np.ndarray:
    return np.linalg.svd(np.asarray(matrix, np.float64), compute_uv=False)


def rank_for_energy(s: np.ndarray, energy: float) -> int:
    """The smallest rank whose singular values keep `energy` of Σ s² (at least 1)."""
    total = float(np.sum(s ** 2))
    if total == 0.0:
        return 1
    kept = np.cumsum(s ** 2) / total
    return max(1, int(np.searchsorted(kept, energy - ENERGY_TOLERANCE) + 1))


def factorize(matrix: np.ndarray, rank: int) -> Factors:
    """W [out, in] ≈ second·first with `rank` inner dimensions; √s goes to each factor so
    both have the same dynamic range (they are quantized later)."""
    u, s, vt = np.linalg.svd(np.asarray(matrix, np.float64), full_matrices=False)
    rank = min(rank, len(s))
    root = np.sqrt(s[:rank])
    total = float(np.sum(s ** 2))
    energy = float(np.sum(s[:rank] ** 2) / total) if total else 1.0
    return Factors(root[:, None] * vt[:rank], u[:, :rank] * root[None, :], energy)


def parameter_saving(out_features: int, in_features: int, rank: int) -> float:
    """1 − (parameters of the two factors) / (parameters of the matrix)."""
    return 1.0 - rank * (out_features + in_features) / (out_features * in_features)
