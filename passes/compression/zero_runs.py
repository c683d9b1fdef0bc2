"""Base-index + zero-run-length coding of sparse weights (Deep Compression style), for
honest sizes of pruned layers.

The weight is flattened. The flat position of its first nonzero is stored once, as a
32-bit base index; every nonzero is then one entry (run, value), `run` being the zeros
since the previous nonzero, in `index_bits` bits. A gap longer than 2^index_bits − 1
is bridged by filler entries (2^index_bits − 1, 0), each standing for that many zeros
plus its own stored zero. Zeros after the last nonzero need no entries: the shape is
in the value's type. Size in bytes: 4 + ceil(entries · (index_bits + value_bits) / 8).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import CompressionError

BASE_INDEX_BYTES = 4


@dataclass(frozen=True)
class ZeroRunCode:
    shape: tuple
    base: int           # flat position of the first nonzero; the size when there is none
    runs: np.ndarray    # zeros before each entry, each < 2^index_bits
    values: np.ndarray  # each entry's value; fillers hold 0
    index_bits: int

    @property
    def entries(self) -> int:
        return len(self.runs)

    def nbytes(self, value_bits: int) -> int:
        return BASE_INDEX_BYTES + math.ceil(self.entries * (self.index_bits + value_bits) / 8)


def _check_bits(index_bits: int, value_bits: int = 1) -> None:
    for name, bits in (("index_bits", index_bits), ("value_bits", value_bits)):
        if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or bits < 1:
            raise CompressionError(f"zero-run coding: {name}={bits!r} must be a positive integer")


def encode_zero_runs(weight, index_bits: int = 4) -> ZeroRunCode:
    _check_bits(index_bits)
    flat = np.asarray(weight).reshape(-1)
    positions = np.flatnonzero(flat)
    if positions.size == 0:
        return ZeroRunCode(np.shape(weight), flat.size, np.zeros(0, np.int64), flat[:0].copy(), index_bits)
    span = 2 ** index_bits  # zeros a filler entry accounts for: its run and its own zero
    gaps = np.concatenate([[0], np.diff(positions) - 1])
    fillers = gaps // span
    last_of_each = np.cumsum(fillers + 1) - 1  # where each nonzero's own entry lands
    runs = np.full(int(last_of_each[-1]) + 1, span - 1, np.int64)
    values = np.zeros(runs.size, flat.dtype)
    runs[last_of_each] = gaps % span
    values[last_of_each] = flat[positions]
    return ZeroRunCode(np.shape(weight), int(positions[0]), runs, values, index_bits)


def decode_zero_runs(code: ZeroRunCode) -> np.ndarray:
    size = int(np.prod(code.shape, dtype=np.int64))
    out = np.zeros(size, code.values.dtype)
    # entry k sits after the base, the runs of entries 0..k and the k entries before it
    positions = code.base + np.cumsum(code.runs + 1) - 1
    if positions.size and positions[-1] >= size:
        raise CompressionError(f"zero-run code overruns its shape {list(code.shape)}: entry at position "
                               f"{int(positions[-1])} of {size}")
    out[positions] = code.values
    return out.reshape(code.shape)


def sparse_encoding_bytes(weight, index_bits: int = 4, value_bits: int = 8) -> int:
    """Bytes of `weight` in the coding above, counted without building it: one entry per
    nonzero plus ⌊gap / 2^index_bits⌋ fillers per gap between consecutive nonzeros."""
    _check_bits(index_bits, value_bits)
    positions = np.flatnonzero(np.asarray(weight))
    fillers = int(np.sum((np.diff(positions) - 1) >> index_bits)) if positions.size else 0
    return BASE_INDEX_BYTES + math.ceil((positions.size + fillers) * (index_bits + value_bits) / 8)
