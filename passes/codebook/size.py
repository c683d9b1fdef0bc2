"""Honest sizes of codebook-quantized weights.

bits/weight = (index_bits × kernels + codebook bits) / weights, where the codebook
bits are every stored codeword at `codebook_bits` plus its f32 scale, and a codebook
shared by several layers (equal `q.codebook` and scale) is counted once.

Indices may be entropy-coded: `entropy` is the Shannon bound (H bits per index) and
`huffman` the size of a canonical Huffman code of the indices, including its table
(one 5-bit code length per codeword), which a decoder needs.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

from qcompiler.ir.codebook import CODEBOOK, SCALE
from qcompiler.ir.core import Graph
from qcompiler.ir.types import CodebookType

SCALE_BITS = 32
CODE_LENGTH_BITS = 5


@dataclass(frozen=True)
class LayerSize:
    name: str
    weights: int
    kernels: int
    index_bits: int
    codebook_bits: int  # bits of the stored codebook (codewords + scale)
    entropy_bits: float  # Shannon bound of the indices
    huffman_bits: int  # a Huffman code of the indices, table included
    codebook_key: tuple  # equal keys: one shared codebook


@dataclass(frozen=True)
class CodebookSize:
    layers: tuple

    @property
    def weights(self) -> int:
        return sum(layer.weights for layer in self.layers)

    def _codebooks(self) -> int:
        return sum({layer.codebook_key: layer.codebook_bits for layer in self.layers}.values())

    def total_bits(self, coding: str = "fixed") -> float:
        index = {"fixed": lambda layer: layer.index_bits * layer.kernels,
                 "entropy": lambda layer: layer.entropy_bits, "huffman": lambda layer: layer.huffman_bits}[coding]
        return sum(index(layer) for layer in self.layers) + self._codebooks()

    def bits_per_weight(self, coding: str = "fixed") -> float:
        return self.total_bits(coding) / self.weights if self.weights else 0.0


def codebook_size(graph: Graph) -> CodebookSize:
    """Sizes of every codebook constant of `graph`, in graph order."""
    layers = []
    for node in graph.nodes:
        t = node.outputs[0].type if node.op == "const" else None
        if not isinstance(t, CodebookType):
            continue
        indices = node.attrs["value"].array.reshape(-1)
        codebook = node.attrs[CODEBOOK]
        counts = np.bincount(indices.astype(np.int64), minlength=t.num_codewords)
        layers.append(LayerSize(node.output.name, int(np.prod(t.shape)), indices.size, t.index_bits,
                                codebook.size * t.codebook_bits + SCALE_BITS, entropy_bits(counts),
                                huffman_bits(counts), (codebook, node.attrs[SCALE])))
    return CodebookSize(tuple(layers))


def entropy_bits(counts: np.ndarray) -> float:
    """Shannon bound: Σ count · -log2(count / total)."""
    n = counts.sum()
    used = counts[counts > 0]
    return float(-(used * np.log2(used / n)).sum()) if n else 0.0


def huffman_bits(counts: np.ndarray) -> int:
    """Bits of the indices under a Huffman code of their histogram plus the code-length table."""
    used = [int(c) for c in counts if c > 0]
    table = CODE_LENGTH_BITS * len(counts)
    if len(used) <= 1:
        return table + sum(used)  # one symbol still takes a 1-bit code
    heap = [(c, i, 0) for i, c in enumerate(used)]  # (weight, tie-break, bits of the subtree's symbols)
    heapq.heapify(heap)
    tie = len(used)
    while len(heap) > 1:
        a, _, bits_a = heapq.heappop(heap)
        b, _, bits_b = heapq.heappop(heap)
        # merging pushes every symbol below one level deeper: its count adds once more
        heapq.heappush(heap, (a + b, tie, bits_a + bits_b + a + b))
        tie += 1
    return table + heap[0][2]


def describe(size: CodebookSize) -> str:
    """One line per layer and a total, for diagnostics."""
    lines = [f"{layer.name}: {layer.weights} weights, {layer.kernels} kernels, idx{layer.index_bits}, "
             f"{CodebookSize((layer,)).bits_per_weight():.3f} bits/weight" for layer in size.layers]
    lines.append(f"total: {size.bits_per_weight():.3f} bits/weight fixed, {size.bits_per_weight('huffman'):.3f} "
                 f"huffman, {size.bits_per_weight('entropy'):.3f} entropy bound")
    return "\n".join(lines)
