"""Embedding tables stored int8, one symmetric scale per row (quantize runs this on every
`embedding`, and every `gather` of rows, whose table is a 2-D float constant). A row is one token's vector, so a row
scale follows each token's own magnitude; `lower` turns the lookup into `qembedding`,
which dequantizes only the rows it picks. Tables a layer also reads as a weight (tied
input and output embeddings) are left to that layer's quantization.

With a floor `min_sqnr` (quantize{embedding_sqnr=...}, else the lookup's `q.embedding_sqnr`,
which transformer-recipe writes) a vocabulary-sized table keeps only as many bits per
value as that floor needs (the fewest of 4..8 whose rounding keeps the table's SQNR at or
above it; row scales then clipped for least error, weighted by the gamma² of a LayerNorm
the rows feed): the codes still sit in int8 storage, so every executor runs them
unchanged, and the ONNX export packs them to that many bits
(backends/onnx/integer_embedding.py). Smaller tables keep 8 bits: they save few bytes, and
their rows (positions, token types) are read by every sequence, so their rounding errors
do not average out over the vocabulary (on the 6-layer BERT of bench/bert_w8a8.py a 7-bit
position table alone costs more pooled cosine than the 7-bit word table)."""
from __future__ import annotations

from typing import Optional

import numpy as np
from qcompiler.ir.core import Graph
from qcompiler.ir.dense import Dense
from qcompiler.ir.types import QuantType, is_float
from qcompiler.numerics.affine import quantize

from .errors import QuantizeError
from .keep_float import kept_float

EMBEDDING_STORAGE = "i8"
EMBEDDING_SQNR = "q.embedding_sqnr"  # a lookup's own floor (dB), used when quantize sets none


FEWEST_BITS = 4
NARROWED_MIN_VALUES = 2 ** 20  # a vocabulary, not a position or token-type table
CLIP_FRACTIONS = np.linspace(1.0, 0.5, 32)  # of max|row|, tried for a narrowed table's row scales (see mse_row_scales)
BLOCK_VALUES = 2 ** 17  # values rounded at a time: a block and its temporaries stay in cache (10x faster)


def row_scales(table: np.ndarray, bits: int = 8) -> np.ndarray:
    """max|row| / (2^(bits-1) - 1), 127 for 8 bits; an all-zero row takes 1 (it stores
    zeros whatever its scale)."""
    peak = np.abs(table).max(axis=1)
    return np.where(peak > 0, peak / (2 ** (bits - 1) - 1), 1.0).astype(np.float32)


def mse_row_scales(table: np.ndarray, bits: int, channel_weights: Optional[np.ndarray] = None) -> np.ndarray:
    """Per row, the scale of least squared rounding error (each column's error times its
    `channel_weights`, default 1) among clips of 50-100 % of max|row|: below 8 bits the step
    is coarse enough that clipping the few largest values buys finer steps for the rest
    (weighted, a row's best clip often lies below 70 %: on bench/bert_w8a8's BERT, clips down
    to 70 % gave pooled cos 0.999866, down to 50 % 0.999887, 40 % no better). Never worse
    than row_scales (the 100 % clip) by that error. Every clip is tried on a block of rows
    before the next block, while the block is in cache."""
    peak_scales = row_scales(table, bits)
    best, step = np.empty_like(peak_scales), _block_rows(table)
    for start in range(0, table.shape[0], step):
        block, peaks = table[start:start + step], peak_scales[start:start + step]
        chosen, least = None, None
        for fraction in CLIP_FRACTIONS:
            scale = (peaks * fraction).astype(np.float32)
            error = row_errors(block, scale, bits, channel_weights)
            if chosen is None:
                chosen, least = scale, error
            else:
                better = error < least
                chosen, least = np.where(better, scale, chosen), np.where(better, error, least)
        best[start:start + step] = chosen
    return best


def _block_rows(table: np.ndarray) -> int:
    return max(1, BLOCK_VALUES // max(1, table.shape[1]))


def row_errors(table: np.ndarray, scales: np.ndarray, bits: int, channel_weights: Optional[np.ndarray] = None):
    """Per row, the squared error of rounding it to `scales` (codes saturating at the
    width), each column's error times `channel_weights` (default 1). In the table's float
    type (float64 weights would convert every block: 4x the time), in cache-sized blocks."""
    top = 2 ** (bits - 1) - 1
    weights = (np.ones(table.shape[1]) if channel_weights is None else channel_weights).astype(
        np.promote_types(table.dtype, np.float32))
    errors, step = np.empty(table.shape[0]), _block_rows(table)
    for start in range(0, table.shape[0], step):
        rows, scale = table[start:start + step], scales[start:start + step, None]
        approx = np.rint(rows / scale)
        np.clip(approx, -top, top, out=approx)
        approx *= scale  # the product dequantize computes
        approx -= rows
        errors[start:start + step] = np.square(approx, out=approx) @ weights
    return errors


def row_type(table: np.ndarray, dtype: str, shape, bits: int, scales: Optional[np.ndarray] = None) -> QuantType:
    return QuantType(EMBEDDING_STORAGE, dtype, shape, row_scales(table, bits) if scales is None else scales,
                     np.zeros(table.shape[0], np.int32), axis=0)


def table_bits(table: np.ndarray, min_sqnr: Optional[float]) -> int:
    """The fewest bits per value whose per-row rounding keeps the table's SQNR >= min_sqnr
    dB; 8 without a floor, for a table under NARROWED_MIN_VALUES values, or when no
    narrower width meets the floor."""
    if min_sqnr is None or table.size < NARROWED_MIN_VALUES:
        return 8
    signal = float(np.square(table, dtype=np.float64).sum())
    for bits in range(FEWEST_BITS, 8):
        noise = row_errors(table, row_scales(table, bits), bits).sum()
        if noise == 0 or 10 * np.log10(signal / noise) >= min_sqnr:
            return bits
    return 8


def lookup_table(node):
    """The table operand of an embedding or a gather of rows, else None."""
    if node.op == "embedding":
        return node.inputs[1]
    if node.op == "gather" and node.attrs.get("axis", 0) == 0:
        return node.inputs[0]
    return None


def norm_channel_weights(graph: Graph, lookup) -> Optional[np.ndarray]:
    """gamma² of the LayerNorm that the looked-up rows reach through adds only (BERT's
    word + position + token-type sum), else None. That LayerNorm multiplies each channel's
    rounding error by its gamma: with outlier channels (gamma 60 where the rest is ~1) an
    unweighted clip search trades their precision away for the others' (on the BERT of
    bench/bert_w8a8.py, 7-bit word rows: pooled cos 0.99982 unweighted, 0.99987 weighted)."""
    value = lookup.output
    while len(value.users) == 1 and value.users[0].op == "add" and not any(o is value for o in graph.outputs):
        value = value.users[0].output
    norm = value.users[0] if len(value.users) == 1 else None
    if norm is None or norm.op != "layer_norm" or norm.attrs.get("axis", -1) not in (-1, value.type.rank - 1):
        return None
    gamma = graph.const_value(norm.inputs[1]) if len(norm.inputs) > 1 else None
    width = graph.const_value(lookup_table(lookup)).shape[1]
    return None if gamma is None or gamma.shape != (width,) else np.square(gamma.astype(np.float64))


def _lookup_floor(node) -> Optional[float]:
    value = node.attrs.get(EMBEDDING_SQNR)
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not value == value):
        raise QuantizeError(f"node {node.label()}: {EMBEDDING_SQNR} = {value!r} is not a number of dB")
    return None if value is None else float(value)


def quantize_embedding_tables(graph: Graph, min_sqnr: Optional[float] = None) -> int:
    """Quantize every eligible table in place (each to table_bits(floor) bits, the floor being
    `min_sqnr` or else the lookup's EMBEDDING_SQNR, recorded as `q.row_bits` on its constant
    when there is a floor); returns how many."""
    count = 0
    for node in graph.nodes:
        table = lookup_table(node)
        if table is None or kept_float(node):
            continue
        array = graph.const_value(table)
        if array is None or array.ndim != 2 or not is_float(table.type) or any(lookup_table(u) is not table
                                                                               for u in table.users):
            continue
        floor = min_sqnr if min_sqnr is not None else _lookup_floor(node)
        bits = table_bits(array, floor)
        scales = mse_row_scales(array, bits, norm_channel_weights(graph, node)) if bits < 8 else None
        t = row_type(array, table.type.dtype, table.type.shape, bits, scales)
        table.producer.meta["float_value"] = array
        if floor is not None:
            table.producer.attrs["q.row_bits"] = bits
        top = 2 ** (bits - 1) - 1  # a clipped row's largest values saturate at its width
        table.producer.attrs["value"] = Dense(np.clip(quantize(array, t), -top, top).astype(np.int8))
        table.type = t
        count += 1
    return count
