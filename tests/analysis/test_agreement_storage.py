"""integer_agreement reads the simulation's stored integers as the runtime holds them.
It used to dequantize every simulated value and quantize it again; that round trip gives
back every storage integer of every storage up to i16, at any scale and zero point, so
reading the storage directly compares the same integers."""
import numpy as np
import pytest

from qcompiler.ir.types import STORAGE_RANGES, QuantType
from qcompiler.numerics.affine import dequantize, quantize


@pytest.mark.parametrize("storage", ["i16", "i8", "u8", "i4", "u4", "i2", "u2"])
def test_quantize_of_dequantize_gives_back_the_storage(storage):
    lo, hi = STORAGE_RANGES[storage]
    rng = np.random.default_rng(hi - lo)
    scales = np.float32(10.0) ** rng.uniform(-30, 30, 64).astype(np.float32)
    zero_points = rng.integers(lo, hi + 1, 64).astype(np.int32)
    q = np.broadcast_to(np.arange(lo, hi + 1, dtype=np.int32), (64, hi - lo + 1))
    t = QuantType(storage, "f32", q.shape, scales, zero_points, axis=0)
    assert np.array_equal(quantize(dequantize(q, t), t), q)
