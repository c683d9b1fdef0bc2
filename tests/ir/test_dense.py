"""Dense: arrays compared by content hash alike when they compare equal."""
import numpy as np

from qcompiler.ir.dense import Dense


def test_equal_arrays_hash_alike_across_signed_zeros_and_nan_payloads():
    nan = np.array([np.nan, 1.0], np.float32)
    other_nan = nan.view(np.uint32).copy()
    other_nan[0] |= 1
    pairs = [(Dense(np.array([-0.0, 2.0])), Dense(np.array([0.0, 2.0]))),
             (Dense(nan), Dense(other_nan.view(np.float32)))]
    for a, b in pairs:
        assert a == b and hash(a) == hash(b)
    assert len({Dense(np.array([-0.0])), Dense(np.array([0.0]))}) == 1
