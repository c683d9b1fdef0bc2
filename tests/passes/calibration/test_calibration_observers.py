"""Observers: streaming equals one-shot, fixed memory, and each method's claim measured."""
import numpy as np
import pytest

from qcompiler.passes.calibration import (KLObserver, MinMaxObserver, MSEObserver, PercentileObserver,
                                          make_observer, mse_range_exact)
from qcompiler.passes.calibration.quant_error import quantization_mse


def _observe(observer, data, chunks=1):
    for c in np.array_split(data, chunks):
        observer.update(c)
    return observer


def _mse(x, lo, hi, bits, symmetric):
    return float(quantization_mse(np.asarray(x).reshape(1, -1), np.array([lo]), np.array([hi]), bits, symmetric)[0])


@pytest.fixture(scope="module")
def gaussian_with_outliers():
    rng = np.random.default_rng(0)
    x = rng.normal(size=100_000).astype(np.float32)
    x[rng.choice(x.size, 20, replace=False)] = rng.normal(scale=30, size=20)
    return x


@pytest.fixture(scope="module")
def laplace():
    return np.random.default_rng(1).laplace(size=100_000).astype(np.float32)


def test_minmax_streaming_equals_one_shot_per_tensor_and_per_channel():
    x = np.random.default_rng(2).normal(size=(64, 6, 5)).astype(np.float32)
    assert _observe(MinMaxObserver(), x, 9).range() == (float(x.min()), float(x.max()))
    lo, hi = _observe(MinMaxObserver(axis=1), x, 9).range()
    assert np.array_equal(lo, x.min(axis=(0, 2))) and np.array_equal(hi, x.max(axis=(0, 2)))


def test_minmax_rejects_a_change_in_channel_count():
    o = MinMaxObserver(axis=1)
    o.update(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="4 channels, earlier batches had 3"):
        o.update(np.zeros((2, 4)))


@pytest.mark.parametrize("method", ["percentile", "kl", "mse"])
@pytest.mark.parametrize("symmetric", [False, True])
def test_histogram_observers_streaming_equals_one_shot(method, symmetric, laplace):
    # the histogram layout is canonical, so chunking changes nothing at all
    stream = _observe(make_observer(method, percentile=99.9), laplace, 40)
    once = _observe(make_observer(method, percentile=99.9), laplace)
    assert stream.range(8, symmetric) == once.range(8, symmetric)


def test_histogram_memory_does_not_grow_with_samples():
    rng = np.random.default_rng(3)
    o = MSEObserver(bins=2048)
    for k in range(300):
        o.update(rng.normal(scale=1 + k / 10, size=1000))
        assert o.histogram.counts.nbytes == 2048 * 8
    assert o.histogram.total == 300_000


def test_percentile_semantics():
    x = np.arange(100_001, dtype=np.float64) - 20_000  # -20000 .. 80000, uniform
    o = _observe(PercentileObserver(99.0), x, 5)
    w = o.histogram.width
    lo, hi = o.range(8, symmetric=False)
    assert abs(lo - np.percentile(x, 1.0)) <= w and abs(hi - np.percentile(x, 99.0)) <= w
    lo, hi = o.range(8, symmetric=True)
    t = np.percentile(np.abs(x), 99.0)
    assert abs(hi - t) <= w and lo == x.min()  # the negative side never reaches -t
    assert _observe(PercentileObserver(100.0), x).range() == (x.min(), x.max())
    with pytest.raises(ValueError, match="percentile"):
        PercentileObserver(0.0)


@pytest.mark.parametrize("bits", [4, 8])
@pytest.mark.parametrize("symmetric", [False, True])
def test_mse_beats_minmax_on_gaussian_with_outliers(bits, symmetric, gaussian_with_outliers):
    x = gaussian_with_outliers
    mse = _observe(MSEObserver(min_gain_db=0), x, 10).range(bits, symmetric)  # every clip the search finds
    minmax = _observe(MinMaxObserver(), x).range(bits, symmetric)
    assert _mse(x, *mse, bits, symmetric) < _mse(x, *minmax, bits, symmetric)
    # and it lands close to the exact optimum over every sample
    exact = mse_range_exact(x, bits, symmetric)
    assert _mse(x, *mse, bits, symmetric) <= 1.02 * _mse(x, *exact, bits, symmetric)


def test_exact_per_channel_mse_weights_beat_per_channel_minmax_at_4_bits():
    rng = np.random.default_rng(4)
    w = rng.laplace(scale=rng.uniform(0.01, 1.0, size=(16, 1)), size=(16, 300)).astype(np.float32)
    lo, hi = mse_range_exact(w, 4, symmetric=True, axis=0)
    assert lo.shape == hi.shape == (16,)
    err_mse = quantization_mse(w, lo, hi, 4, True)
    err_minmax = quantization_mse(w, w.min(axis=1), w.max(axis=1), 4, True)
    assert np.all(err_mse <= err_minmax) and err_mse.sum() < 0.8 * err_minmax.sum()


def test_kl_clips_heavy_tails_and_quantizes_the_bulk_better(laplace):
    kl = _observe(KLObserver(2048), laplace, 10)
    lo, hi = kl.range(8, symmetric=True)
    top = float(np.abs(laplace).max())
    assert hi < 0.95 * top and lo > -0.95 * top
    bulk = laplace[np.abs(laplace) <= np.quantile(np.abs(laplace), 0.99)]
    assert _mse(bulk, lo, hi, 8, True) < 0.8 * _mse(bulk, -top, top, 8, True)


def test_kl_on_relu_outputs_ignores_the_spike_of_exact_zeros(laplace):
    relu = np.maximum(laplace, 0)
    lo, hi = _observe(KLObserver(), relu).range(8, symmetric=False)
    assert lo == 0.0 and 0.5 * relu.max() < hi < relu.max()
    positive = laplace[laplace > 0]  # same histogram layout, minus the zeros
    assert _observe(KLObserver(), positive).range(8, symmetric=False)[1] == hi


def test_observers_need_data_before_a_range():
    for method in ("minmax", "percentile", "kl", "mse"):
        with pytest.raises(ValueError, match="before any update"):
            make_observer(method).range(8, False)
    with pytest.raises(ValueError, match="unknown calibration method"):
        make_observer("entropy")


def test_constant_zero_tensor_has_a_zero_range():
    for method in ("percentile", "kl", "mse"):
        assert _observe(make_observer(method), np.zeros(100)).range(8, False) == (0.0, 0.0)
