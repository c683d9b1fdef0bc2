"""learn_codebook: seeded k-means of kernels with codewords on a signed integer grid."""
import numpy as np

from qcompiler.passes.codebook.kmeans import learn_codebook, nearest


def clustered_kernels(seed=0, n=200, noise=0.01):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((4, 9))
    labels = rng.integers(0, 4, n)
    return centres[labels] + noise * rng.standard_normal((n, 9)), centres[labels]


def test_same_seed_same_codebook():
    kernels, _ = clustered_kernels(noise=0.5)
    a, b = (learn_codebook(kernels, 3, 6, seed=7) for _ in range(2))
    assert np.array_equal(a.codewords, b.codewords) and a.scale == b.scale and np.array_equal(a.indices, b.indices)


def test_codewords_on_the_grid_and_every_kernel_at_its_nearest_codeword():
    kernels, _ = clustered_kernels(noise=0.5)
    book = learn_codebook(kernels, 3, 4, seed=0)
    assert book.codewords.shape == (8, 9)
    assert book.codewords.min() >= -8 and book.codewords.max() <= 7
    assert book.scale == float(np.float32(book.scale))
    np.testing.assert_array_equal(book.indices, nearest(kernels, book.codewords * book.scale))


def test_recovers_clusters():
    kernels, centres = clustered_kernels()
    book = learn_codebook(kernels, 2, 8, seed=0)
    # each codeword is its cluster's centre up to the mean noise (< 0.005 over ~50 kernels)
    # and half a step of the 8-bit grid
    error = np.abs(book.codewords[book.indices] * book.scale - centres).max()
    assert error < 0.005 + book.scale / 2
    assert len(set(book.indices.tolist())) == 4


def test_fewer_distinct_kernels_than_codewords():
    kernels = np.repeat(np.array([[1.0, 0, -1], [0.5, 0.5, 0.5]]), 5, axis=0)
    book = learn_codebook(kernels, 3, 6, seed=0)
    used = sorted(set(book.indices.tolist()))
    assert len(used) == 2 and not book.codewords[[k for k in range(8) if k not in used]].any()
    np.testing.assert_allclose(book.codewords[book.indices] * book.scale, kernels, atol=1 / 31 / 2 + 1e-9)
