"""Storage widths and sizes of values."""
import numpy as np
import pytest

from qcompiler.analysis import element_bits, storage_bytes, type_label
from qcompiler.ir.types import CodebookType, MinifloatType, QuantType, TensorType


def q(storage, shape=(16, 8), axis=None):
    scale = np.ones(shape[0], np.float32) if axis is not None else 1.0
    zp = np.zeros(shape[0], np.int32) if axis is not None else 0
    return QuantType(storage, "f32", shape, scale=scale, zero_point=zp, axis=axis)


@pytest.mark.parametrize("t, bits, size, label", [
    (TensorType("f32", (16, 8)), 32, 512, "f32"),
    (TensorType("bf16", (16, 8)), 16, 256, "bf16"),
    (TensorType("i64", ("N", 8)), 64, 64, "i64"),
    (q("i8", axis=0), 8, 128, "i8/channel"),
    (q("u8"), 8, 128, "u8"),
    (q("i4", axis=0), 4, 64, "i4/channel"),
    (MinifloatType("e4m3", "f32", (16, 8)), 8, 128, "e4m3"),
])
def test_bits_bytes_labels(t, bits, size, label):
    assert (element_bits(t), storage_bytes(t), type_label(t)) == (bits, size, label)


def test_codebook_counts_indices_and_codewords():
    t = CodebookType(codebook_bits=8, index_bits=4, kernel_shape=(3, 3), expressed="f32", shape=(16, 8, 3, 3))
    # 128 kernels × 4-bit index + 16 codewords × 9 entries × 8 bits
    assert storage_bytes(t) == (128 * 4 + 16 * 9 * 8) / 8
