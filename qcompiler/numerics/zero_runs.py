"""Base-index + zero-run-length coding of sparse weights (Deep Compression style): the
sizes `prune` reports, and the stored form of `zero_run_weight` (ir/ops/zero_run_weight.py).

The weight is flattened. The flat position of its first nonzero is stored once, as a
32-bit base index; every nonzero is then one entry (run, value), `run` being the zeros
since the previous nonzero, in `index_bits` bits. A gap longer than 2^index_bits − 1
is bridged by filler entries (2^index_bits − 1, 0), each standing for that many zeros
plus its own stored zero. Zeros after the last nonzero need no entries: the shape is
in the value's type. Size in bytes: 4 + ceil(entries · (index_bits + value_bits) / 8).

Stored form (`pack_code` / `unpack_code`): runs and values as two byte arrays of
fields packed low field first (ONNX's int4 order), 8 / bits fields a byte, so widths
that divide 8 take exactly entries · bits / 8 bytes each (rounded up).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..ir.errors import QIRError

BASE_INDEX_BYTES = 4
PACKED_WIDTHS = (1, 2, 4, 8)  # field widths the stored form packs (they divide a byte)


class ZeroRunError(QIRError, ValueError):
    """A zero-run code that cannot be built or read (bad widths, a code overrunning its shape)."""


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

    def positions(self) -> np.ndarray:
        """Flat position of every entry (fillers included): after the base, the runs of
        entries 0..k and the k entries before it."""
        return self.base + np.cumsum(self.runs + 1) - 1


def _check_bits(index_bits: int, value_bits: int = 1) -> None:
    for name, bits in (("index_bits", index_bits), ("value_bits", value_bits)):
        if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or bits < 1:
            raise ZeroRunError(f"zero-run coding: {name}={bits!r} must be a positive integer")


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
    positions = code.positions()
    if positions.size and (code.base < 0 or positions[-1] >= size):
        raise ZeroRunError(f"zero-run code overruns its shape {list(code.shape)}: entry at position "
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


def pack_fields(values: np.ndarray, bits: int) -> np.ndarray:
    """Integers (each fitting `bits` bits, signed or not) -> uint8 bytes, 8 / bits fields a
    byte, low field first; the last byte is padded with zero fields."""
    if bits not in PACKED_WIDTHS:
        raise ZeroRunError(f"zero-run storage packs fields of {PACKED_WIDTHS} bits, not {bits}")
    per_byte = 8 // bits
    fields = np.zeros(-(-values.size // per_byte) * per_byte, np.uint8)
    fields[:values.size] = np.asarray(values).reshape(-1).astype(np.int64) & ((1 << bits) - 1)
    shifts = np.arange(per_byte, dtype=np.uint8) * bits
    return np.bitwise_or.reduce(fields.reshape(-1, per_byte) << shifts, axis=1).astype(np.uint8)


def unpack_fields(packed: np.ndarray, count: int, bits: int, signed: bool) -> np.ndarray:
    """pack_fields' inverse: the first `count` fields as int64, sign-extended when `signed`."""
    if bits not in PACKED_WIDTHS:
        raise ZeroRunError(f"zero-run storage packs fields of {PACKED_WIDTHS} bits, not {bits}")
    per_byte = 8 // bits
    if count > packed.size * per_byte:
        raise ZeroRunError(f"zero-run storage: {count} fields of {bits} bits need "
                           f"{-(-count // per_byte)} bytes, the array holds {packed.size}")
    shifts = np.arange(per_byte, dtype=np.uint8) * bits
    fields = ((np.asarray(packed, np.uint8)[:, None] >> shifts) & ((1 << bits) - 1)).reshape(-1)[:count]
    fields = fields.astype(np.int64)
    if signed:
        fields -= (fields >> (bits - 1)) << bits
    return fields


def pack_code(code: ZeroRunCode, value_bits: int) -> tuple:
    """(runs bytes, values bytes) of `code` in the stored form."""
    return pack_fields(code.runs, code.index_bits), pack_fields(code.values, value_bits)


def unpack_code(runs: np.ndarray, values: np.ndarray, entries: int, base: int, shape: tuple, index_bits: int,
                value_bits: int, signed: bool) -> ZeroRunCode:
    """The code of the stored form; `decode_zero_runs` of it is the weight."""
    _check_bits(index_bits, value_bits)
    if entries < 0:
        raise ZeroRunError(f"zero-run storage: entries={entries} must be >= 0")
    return ZeroRunCode(tuple(shape), int(base), unpack_fields(runs, entries, index_bits, False),
                       unpack_fields(values, entries, value_bits, signed), index_bits)
