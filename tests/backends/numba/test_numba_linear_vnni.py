"""qlinear on the AVX-512 VNNI kernel (a 1×1 convolution whose positions are the input rows)
against the reference: odd row counts, K not a multiple of 4, u8 and i8 activations,
weight zero points, batched inputs; and the int16 kernels on hosts without VNNI."""
import zlib

import numpy as np
import pytest

from numba_cases import compare, one_node, qtype, requant_attrs, storage, vnni_runs
from qcompiler.backends.numba.kernels.vnni_tile import HAS_AVX512_VNNI
from qcompiler.backends.numba.ops import conv_vnni

# name: (x shape, out features, x storage/zp, w storage/zp, rounding)
CASES = {
    "odd_rows_k_not_quads": ((5, 37), 9, ("u8", 200), ("i8", 0), "half_even"),
    "i8_batched_rows": ((2, 3, 70), 66, ("i8", -5), ("i8", 0), "half_up"),
    "u8_weights_zp128_long_k": ((67, 1030), 5, ("u8", 3), ("u8", 128), "half_away"),
}


def _node_and_args(name):
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    x_shape, n_out, (x_storage, x_zp), (w_storage, w_zp), rounding = CASES[name]
    k = x_shape[-1]
    x_t, w_t = qtype(x_storage, x_shape, zp=x_zp), qtype(w_storage, (n_out, k), zp=w_zp, axis=0)
    typical = int(np.sqrt(k) * 255 * 255 / 12)
    attrs = {**requant_attrs(rng, n_out, rounding, (10 / typical, 60 / typical)), "clamp": [0, 255]}
    bias = rng.integers(-typical, typical, n_out).astype(np.int32)
    operands = [(x_t, None), (w_t, storage(rng, w_t)), (qtype("i32", (n_out,), scale=1e-3), bias)]
    node = one_node("qlinear", operands, attrs, qtype("u8", x_shape[:-1] + (n_out,), zp=7))
    return node, [storage(rng, x_t), operands[1][1], bias]


@pytest.fixture
def vnni_calls(monkeypatch):
    return vnni_runs(monkeypatch, "run_vnni_linear")


@pytest.mark.parametrize("name", sorted(CASES))
def test_vnni_linear_matches_reference(name, vnni_calls):
    node, args = _node_and_args(name)
    compare(node, args)
    assert len(vnni_calls) == (1 if HAS_AVX512_VNNI else 0)


def test_host_without_vnni_falls_back(vnni_calls, monkeypatch):
    monkeypatch.setattr(conv_vnni, "HAS_AVX512_VNNI", False)
    node, args = _node_and_args("i8_batched_rows")
    compare(node, args)
    assert not vnni_calls
