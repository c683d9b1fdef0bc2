"""mse keeps a weight channel's clip only where it gains WEIGHT_MIN_GAIN_DB over min/max:
at 8 bits the clips of normal weights gain next to nothing and are dropped, at 2 bits
they gain several dB and are kept."""
import numpy as np

from qcompiler.passes.calibration.mse import WEIGHT_MIN_GAIN_DB, mse_range_exact
from qcompiler.passes.calibration.quant_error import candidate_mse


def normal_weights() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(32, 16, 3, 3)).astype(np.float32)


def gains_db(w: np.ndarray, bits: int, lo, hi) -> np.ndarray:
    rows = w.reshape(w.shape[0], -1)
    errors = candidate_mse(rows, np.stack([rows.min(1), lo]), np.stack([rows.max(1), hi]), bits, True)
    return 10 * np.log10(errors[0] / errors[1])


def test_eight_bit_clips_that_gain_little_keep_min_max():
    w = normal_weights()
    rows = w.reshape(32, -1)
    every_clip = mse_range_exact(w, 8, True, axis=0, min_gain_db=0.0)
    clipped = np.maximum(-every_clip[0], every_clip[1]) < np.abs(rows).max(1)
    assert clipped.sum() >= 8  # plain mse clips several channels ...
    assert gains_db(w, 8, *every_clip).max() < WEIGHT_MIN_GAIN_DB  # ... for less than the threshold
    lo, hi = mse_range_exact(w, 8, True, axis=0)
    np.testing.assert_array_equal(lo, rows.min(1))
    np.testing.assert_array_equal(hi, rows.max(1))


def test_two_bit_clips_are_kept():
    w = normal_weights()
    lo, hi = mse_range_exact(w, 2, True, axis=0)
    np.testing.assert_array_equal((lo, hi), mse_range_exact(w, 2, True, axis=0, min_gain_db=0.0))
    assert np.all(np.maximum(-lo, hi) < 0.7 * np.abs(w.reshape(32, -1)).max(1))
    assert gains_db(w, 2, lo, hi).min() >= WEIGHT_MIN_GAIN_DB


def test_per_tensor_range_follows_the_same_rule():
    w = normal_weights()
    assert mse_range_exact(w, 8, True) == (float(w.min()), float(w.max()))
    lo, hi = mse_range_exact(w, 2, True)
    assert max(-lo, hi) < 0.7 * np.abs(w).max()
