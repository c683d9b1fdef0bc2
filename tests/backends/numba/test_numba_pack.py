"""Packing int4/int2 weights two/four to a byte, and unpacking them in kernels."""
import numpy as np
import pytest

from qcompiler.backends.numba.kernels.pack import PACKED_FIELDS, pack_rows, packed_row_bytes, unpack_rows
from qcompiler.ir.types import STORAGE_RANGES


@pytest.mark.parametrize("storage", sorted(PACKED_FIELDS))
@pytest.mark.parametrize("k", [1, 3, 4, 5, 27, 64])
def test_unpack_inverts_pack(storage, k):
    bits, signed = PACKED_FIELDS[storage]
    lo, hi = STORAGE_RANGES[storage]
    rng = np.random.default_rng(k)
    rows = rng.integers(lo, hi + 1, (6, k))
    if storage == "b1":
        rows = np.where(rows == 0, 1, rows)
    rows[0, 0], rows[-1, -1] = lo, hi
    packed = pack_rows(rows, bits)
    assert packed.dtype == np.uint8 and packed.shape == (6, packed_row_bytes(k, bits))
    assert packed.shape[1] == -(-k * bits // 8), "packing must be dense: 8/bits values per byte"
    np.testing.assert_array_equal(unpack_rows(packed, k, bits, signed), rows)


def test_byte_layout_is_low_field_first():
    """ONNX packs int4 low nibble first; int2 fields fill a byte from bit 0 up."""
    np.testing.assert_array_equal(pack_rows(np.array([[1, -2, 7]]), 4), [[0xE1, 0x07]])
    np.testing.assert_array_equal(pack_rows(np.array([[1, -2, 0, -1, 1]]), 2), [[0b11_00_10_01, 0b01]])


def test_16_bit_fields_are_little_endian():
    np.testing.assert_array_equal(pack_rows(np.array([[0x1234, -2]]), 16), [[0x34, 0x12, 0xFE, 0xFF]])


def test_rows_start_on_byte_boundaries():
    rows = np.array([[1, 2, 3], [-1, -2, -3]])
    packed = pack_rows(rows, 4)
    np.testing.assert_array_equal(unpack_rows(packed[1:], 3, 4, True), rows[1:])


def test_pack_rejects_bad_widths_and_ranks():
    with pytest.raises(ValueError, match="2, 4, 8 or 16-bit"):
        pack_rows(np.zeros((2, 2)), 3)
    with pytest.raises(ValueError, match="2-D"):
        pack_rows(np.zeros(4), 4)
