"""KL's threshold search (one compiled scan over the candidates) equals a straightforward
per-threshold implementation of its definition, on the data shapes that broke it before:
skewed, one-sided, zero-heavy, spiky and nearly empty histograms."""
import numpy as np
import pytest

from qcompiler.passes.calibration.kl import MIN_KEPT_SHARE, SMOOTHING, _divergences, kl_threshold_bins


def _smooth(p):
    zero = p == 0
    n_zero, n_nonzero = int(zero.sum()), int(p.size - zero.sum())
    if n_zero == 0 or n_nonzero == 0:
        return p
    return p + SMOOTHING * zero - SMOOTHING * n_zero / n_nonzero * ~zero


def _reference_divergence(counts, i, levels):
    """KL(P‖Q) for keeping i bins, written from the definition with numpy."""
    p = counts[:i].copy()
    p[-1] += counts[i:].sum()
    group = np.minimum(np.arange(i) // (i // levels), levels - 1)
    nonzero = counts[:i] != 0
    merged = np.bincount(group, weights=counts[:i], minlength=levels)
    spread = np.bincount(group, weights=nonzero, minlength=levels)
    q = np.where(nonzero, merged[group] / np.maximum(spread[group], 1), 0.0)
    if q.sum() == 0:
        return np.inf
    p, q = _smooth(p), _smooth(q)
    p, q = p / p.sum(), q / q.sum()
    mask = p > 0
    return float(np.sum(p[mask] * np.log(p[mask] / q[mask])))


def _first_candidate(counts, levels):
    return max(levels, int(np.searchsorted(np.cumsum(counts), MIN_KEPT_SHARE * counts.sum())) + 1)


def _reference_threshold(counts, levels, divergences):
    """The first candidate of least divergence (`divergences` from the first candidate on)."""
    best_i, best_kl = len(counts), np.inf
    for i, kl in enumerate(divergences, start=_first_candidate(counts, levels)):
        if kl < best_kl:
            best_i, best_kl = i, kl
    return best_i


def _histograms():
    rng = np.random.default_rng(0)

    def hist(x, bins=700):
        return np.histogram(np.abs(x), bins=bins, range=(0, np.abs(x).max()))[0].astype(np.float64)

    laplace = rng.laplace(size=50_000)
    zero_heavy = hist(np.maximum(laplace, 0))
    zero_heavy[0] += 200_000  # a spike of near-zero values (ReLU of small pre-activations)
    spiky = hist(rng.normal(size=30_000))
    spiky[rng.choice(spiky.size, 300, replace=False)] = 0  # holes: smoothing on both sides
    spiky[-1] = 500
    return {
        "skewed": hist(rng.lognormal(0.0, 1.2, 50_000), bins=500),
        "one-sided far from 0": hist(rng.normal(1.0, 0.1, 50_000))[300:],
        "zero-heavy": zero_heavy,
        "spiky with holes": spiky,
        "heavy tail with outliers": hist(np.concatenate([laplace, rng.normal(scale=60, size=40)]), bins=1200),
        "few samples": hist(rng.normal(size=300), bins=400),
    }


HISTOGRAMS = _histograms()


@pytest.mark.parametrize("name", list(HISTOGRAMS))
@pytest.mark.parametrize("levels", [128, 256, 7])
def test_compiled_scan_equals_the_per_threshold_definition(name, levels):
    counts = HISTOGRAMS[name]
    first = _first_candidate(counts, levels)
    expected = [_reference_divergence(counts, i, levels) for i in range(first, len(counts) + 1)]
    if expected:
        np.testing.assert_allclose(_divergences(counts, levels, first), expected, rtol=1e-9, atol=1e-15)
    assert kl_threshold_bins(counts, levels) == _reference_threshold(counts, levels, expected)

