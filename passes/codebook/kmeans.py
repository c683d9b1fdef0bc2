"""Learning a codebook of kernels: k-means over the k×k kernels, then the codewords
snapped to a signed `codebook_bits` grid with one scale.

Snapping moves the centroids, so the assignment and the centroids are refined on the
grid (Lloyd steps whose centroids are re-quantized with the same scale) until no kernel
changes codeword. Everything is seeded: the same kernels and seed give the same codebook.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from qcompiler.ir.codebook import codeword_range

REFINE_STEPS = 20


@dataclass(frozen=True)
class Codebook:
    codewords: np.ndarray  # [2^index_bits, kh·kw] integers (unused rows are 0)
    scale: float           # an exact f32
    indices: np.ndarray    # [n] one codeword per kernel


def learn_codebook(kernels: np.ndarray, index_bits: int, codebook_bits: int, seed: int) -> Codebook:
    """`kernels`: [n, kh·kw] floats -> a codebook of 2^index_bits integer codewords."""
    from sklearn.cluster import KMeans  # here: importing sklearn (and scipy.stats) took 7-9 s of every compile

    kernels = np.asarray(kernels, np.float64)
    size = 2 ** index_bits
    distinct = len(np.unique(kernels, axis=0))
    clusters = min(size, distinct)
    with warnings.catch_warnings():  # sklearn warns when clusters are fewer than asked; we asked for `distinct`
        warnings.simplefilter("ignore")
        km = KMeans(n_clusters=clusters, n_init=4, random_state=seed).fit(kernels)
    centroids = km.cluster_centers_
    _, qmax = codeword_range(codebook_bits)
    peak = float(np.abs(centroids).max())
    scale = float(np.float32(peak / qmax)) if peak > 0 else 1.0
    ints, indices = _refine_on_grid(kernels, centroids, scale, codebook_bits)
    codewords = np.zeros((size, kernels.shape[1]), np.int64)
    codewords[:len(ints)] = ints
    return Codebook(codewords, scale, indices)


def snap(centroids: np.ndarray, scale: float, codebook_bits: int) -> np.ndarray:
    lo, hi = codeword_range(codebook_bits)
    return np.clip(np.rint(centroids / scale), lo, hi).astype(np.int64)


def nearest(kernels: np.ndarray, codewords: np.ndarray) -> np.ndarray:
    """Index of the nearest codeword (squared distance; ties to the lowest index)."""
    d = ((kernels[:, None, :] - codewords[None, :, :]) ** 2).sum(-1)
    return np.argmin(d, axis=1)


def _refine_on_grid(kernels, centroids, scale, codebook_bits):
    ints = snap(centroids, scale, codebook_bits)
    indices = nearest(kernels, ints * scale)
    for _ in range(REFINE_STEPS):
        moved = ints.copy()
        for k in range(len(ints)):
            members = kernels[indices == k]
            if len(members):  # an empty cluster keeps its codeword
                moved[k] = snap(members.mean(axis=0), scale, codebook_bits)
        new = nearest(kernels, moved * scale)
        ints = moved
        if np.array_equal(new, indices):
            break
        indices = new
    return ints, indices
