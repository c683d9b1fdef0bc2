"""The float row kernels' serial form and their chunked _parallel twins (ops/float_rows.py
picks one by size and thread count) write every row, and the same bits: chunk counts that do
not divide the rows, more chunks than rows, a masked softmax with an empty row."""
import numpy as np
import pytest

from qcompiler.backends.numba.kernels import float_rows as k

RNG = np.random.default_rng(3)
X = RNG.standard_normal((37, 19)).astype(np.float32) * 4
KEEP = RNG.random(X.shape) < 0.7
KEEP[5] = False


def _both(serial, parallel, chunks, shape, *args):
    """(serial result, parallel result), each written into a NaN-filled output."""
    outs = [np.full(shape, np.nan, np.float32) for _ in range(2)]
    serial(0, shape[0], *args, outs[0])
    parallel(chunks, *args, outs[1])
    return outs


@pytest.mark.parametrize("chunks", [1, 4, 50])
def test_masked_softmax_rows(chunks):
    s, p = _both(k.masked_softmax_rows, k.masked_softmax_rows_parallel, chunks, X.shape, X, KEEP, True,
                 np.float32(-np.inf), True)
    assert not np.isnan(s).any() and np.array_equal(s, p)
    assert (s[5] == 0).all()


@pytest.mark.parametrize("chunks", [1, 4, 50])
def test_layer_norm_rows(chunks):
    w, b = RNG.standard_normal((2, X.shape[1])).astype(np.float32)
    s, p = _both(k.layer_norm_rows, k.layer_norm_rows_parallel, chunks, X.shape, X, w, b, np.float32(1e-5))
    assert not np.isnan(s).any() and np.array_equal(s, p)


@pytest.mark.parametrize("tanh_form", [False, True])
def test_gelu_flat(tanh_form):
    flat = X.reshape(-1)
    s, p = _both(k.gelu_flat, k.gelu_flat_parallel, 6, flat.shape, flat, tanh_form)
    assert not np.isnan(s).any() and np.array_equal(s, p)
