"""The row kernels' serial form and their chunked _parallel twins (ops/serial_or_parallel.py
picks one by size and thread count) write every row, and the same bits: chunk counts that do
not divide the rows, more chunks than rows, a masked softmax with an empty row; the I-BERT
kernels' and the integer product's twins, forced on small inputs, equal the integer
references."""
import numpy as np
import pytest
from numba_cases import qtype, requant_attrs
from test_numba_ibert import kernel_graph, q, same
from test_numba_linear import _run, _typical_real

from qcompiler.backends.numba.kernels import float_rows as k
from qcompiler.backends.numba.ops import serial_or_parallel
from qcompiler.backends.numba.ops.embedding import embedding_rows_kernel, embedding_rows_parallel

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


def test_ibert_parallel_twins_equal_the_references(monkeypatch):
    monkeypatch.setattr(serial_or_parallel, "parallel_chunks", lambda work_macs: 7)
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((5, 3, 24)) * 3).astype(np.float32)
    keep = rng.random(x.shape) > 0.3
    keep[0, 0] = False
    same(kernel_graph("ibert_softmax", q("u8", 0.08, 3, x.shape), q("u8", 1 / 255, 0, x.shape), masked=True), x, keep)
    same(kernel_graph("ibert_gelu", q("i8", 0.05, 0, x.shape), q("u8", 0.05, 4, x.shape)), x)
    gamma, beta = rng.uniform(0.5, 1.5, 24), rng.standard_normal(24) * 0.1
    same(kernel_graph("ibert_layer_norm", q("u8", 0.5, 128, x.shape), q("i8", 0.05, 0, x.shape), (gamma, beta)), x)


def test_qmatmul_parallel_twin_equals_the_reference(monkeypatch):
    monkeypatch.setattr(serial_or_parallel, "parallel_chunks", lambda work_macs: 3)
    rng = np.random.default_rng(5)
    a_t, b_t = qtype("u8", (2, 5, 3, 6), zp=128), qtype("i8", (5, 6, 9), zp=3)  # 10 tasks in 3 chunks
    attrs = {**requant_attrs(rng, 1, "half_away", _typical_real(6, a_t, b_t)), "clamp": [-128, 127]}
    _run("qmatmul", [(a_t, None), (b_t, None)], attrs, rng)


def test_embedding_rows_parallel_twin():
    rng = np.random.default_rng(6)
    indices = rng.integers(-50, 50, 23).astype(np.int64)
    table, scale = rng.integers(-128, 128, (50, 7)).astype(np.int8), rng.random(50).astype(np.float32)
    s, p = _both(embedding_rows_kernel, embedding_rows_parallel, 4, (23, 7), indices, table, scale)
    assert not np.isnan(s).any() and np.array_equal(s, p)
