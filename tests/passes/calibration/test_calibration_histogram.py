"""The streaming histogram: fixed memory, exact re-binning, zero on a bin edge."""
import numpy as np
import pytest

from qcompiler.passes.calibration.histogram import StreamingHistogram


def _feed(chunks, bins=256):
    h = StreamingHistogram(bins)
    for c in chunks:
        h.update(c)
    return h


def test_growth_keeps_every_sample_and_the_memory_fixed():
    rng = np.random.default_rng(0)
    h = StreamingHistogram(128)
    n = 0
    for k in range(200):
        chunk = rng.normal(scale=1 + k, size=500)  # the range keeps growing
        h.update(chunk)
        n += chunk.size
        assert h.counts.shape == (128,)
    assert h.total == n
    assert h.lo_edge <= h.min and h.max <= h.lo_edge + 128 * h.width


def test_zero_stays_a_bin_edge_so_the_abs_fold_is_exact():
    rng = np.random.default_rng(1)
    h = _feed([rng.uniform(0.3, 0.5, 100), rng.uniform(-7, 2, 100), rng.uniform(-1, 40, 100)])
    assert h.lo_edge + h.zero_bin * h.width == 0.0
    folded = h.folded()
    assert folded.sum() == h.total
    data = np.concatenate([rng.normal(size=1000), -rng.exponential(3, size=1000)])
    h = _feed(np.array_split(data, 7))
    expected = np.bincount(np.floor(np.abs(data) / h.width).astype(int), minlength=len(h.folded()))
    assert np.array_equal(h.folded(), expected[:len(h.folded())])


def test_streaming_gives_exactly_the_one_shot_histogram():
    rng = np.random.default_rng(2)
    data = rng.standard_t(3, size=20_000)
    stream = _feed(np.array_split(data, 50), bins=512)
    once = _feed([data], bins=512)
    assert (stream.width, stream.zero_bin) == (once.width, once.zero_bin)
    assert np.array_equal(stream.counts, once.counts)


def test_float32_activations_larger_than_a_block_bin_as_their_float64_division():
    rng = np.random.default_rng(3)
    chunks = [(rng.standard_t(3, size=(2, 70_000)) * scale).astype(np.float32) for scale in (0.01, 1.0, 30.0)]
    chunks[1][0, :5] = [-1e-45, 1e-45, -1e-40, 0.0, -0.0]  # subnormals keep their side of zero
    h = _feed(chunks, bins=2048)
    data = np.concatenate([c.reshape(-1) for c in chunks]).astype(np.float64)
    expected = np.bincount(np.floor(data / h.width).astype(int) + h.zero_bin, minlength=2048)
    assert np.array_equal(h.counts, expected)

def test_quantiles_are_exact_to_one_bin():
    rng = np.random.default_rng(2)
    data = rng.standard_t(3, size=20_000)
    h = _feed(np.array_split(data, 50), bins=512)
    for q in (0.001, 0.1, 0.5, 0.9, 0.999):
        assert abs(h.quantile(q) - np.quantile(data, q)) <= h.width
    assert abs(h.abs_quantile(0.99) - np.quantile(np.abs(data), 0.99)) <= h.width


def test_bins_are_not_wasted():
    rng = np.random.default_rng(5)
    data = rng.uniform(-3, 5, size=1000)
    h = _feed(np.array_split(data, 10), bins=256)
    assert h.width <= 2 * (data.max() - data.min()) / 256 * 1.05  # at least half the bins span the data


def test_zeros_before_any_range_are_kept():
    h = _feed([np.zeros(10), np.zeros(5), np.array([-1.0, 3.0])])
    assert h.total == 17
    assert h.counts[h.zero_bin] == 15
    assert 0.0 <= h.quantile(0.5) <= h.width  # the median is in the bin of zeros


def test_lower_quantile_in_the_bin_of_zeros_is_zero():
    rng = np.random.default_rng(3)
    relu = np.maximum(rng.normal(size=5000), 0)
    h = _feed([relu])
    assert h.quantile(0.0001) == 0.0


def test_rejects_a_histogram_without_bins_and_non_finite_data():
    with pytest.raises(ValueError, match="at least 2 bins"):
        StreamingHistogram(1)
    with pytest.raises(ValueError, match="NaN or Inf"):
        StreamingHistogram().update(np.array([1.0, np.nan]))
