"""softmax, masked_softmax, layer_norm and gelu on the Numba float32 row kernels equal the
numpy references to float32 rounding: the kernels sum in float64 where numpy sums float32
pairwise, so elements differ by at most a few ulp (the tolerances below), never more."""
import math

import numpy as np
import pytest

from qcompiler.backends.numba.executor import NumbaExecutor
from qcompiler.ir import Graph, TensorType
from qcompiler.runtime.reference import run_graph

RNG = np.random.default_rng(0)
# float32 rounding of a row reduction: relative 4 ulp (eps 1.2e-7), absolute for values near 0
RTOL, ATOL = 5e-7, 1e-7
DTYPES = {"float32": "f32", "bool": "bool"}


def _run_both(op: str, arrays: list, attrs: dict, constants=()):
    g = Graph("rows")
    inputs = [g.add_input(f"x{i}", TensorType(DTYPES[a.dtype.name], a.shape))
              for i, a in enumerate(arrays)]
    inputs += [g.constant(c, name=f"c{i}") for i, c in enumerate(constants)]
    y = g.add(op, inputs, attrs, name="y")
    g.set_outputs([y.output])
    executor = NumbaExecutor(g)
    assert executor.fallback_nodes == []  # the kernel runs, not the reference
    return executor(arrays)[0], run_graph(g, arrays)[0]


@pytest.mark.parametrize("axis", [-1, 1])
def test_softmax(axis):
    x = (RNG.standard_normal((2, 5, 7, 9)) * 4).astype(np.float32)
    got, want = _run_both("softmax", [x], {"axis": axis})
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("fill, zero_empty_rows", [(-math.inf, False), (-math.inf, True),
                                                   (float(np.finfo(np.float32).min), False), (-1e4, False)])
def test_masked_softmax_broadcast_mask_and_empty_rows(fill, zero_empty_rows):
    x = (RNG.standard_normal((2, 3, 6, 8)) * 3).astype(np.float32)
    keep = RNG.random((2, 1, 6, 8)) < 0.6
    keep[0, 0, 2] = False  # a row where nothing is kept: NaN, uniform or zeros, as the reference says
    got, want = _run_both("masked_softmax", [x, keep], {"fill": fill, "zero_empty_rows": zero_empty_rows})
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


def test_layer_norm_with_affine_constants():
    x = (RNG.standard_normal((3, 10, 384)) * 5 + 2).astype(np.float32)
    weight = RNG.standard_normal(384).astype(np.float32)
    bias = RNG.standard_normal(384).astype(np.float32)
    got, want = _run_both("layer_norm", [x], {"eps": 1e-12}, constants=(weight, bias))
    np.testing.assert_allclose(got, want, rtol=4 * RTOL, atol=4e-6)


def test_layer_norm_over_two_axes_without_affine():
    x = (RNG.standard_normal((4, 6, 5)) * 0.1).astype(np.float32)
    got, want = _run_both("layer_norm", [x], {"axis": 1, "eps": 1e-5})
    np.testing.assert_allclose(got, want, rtol=4 * RTOL, atol=4e-6)


def test_erf_gelu_is_bitwise_the_reference():
    x = (RNG.standard_normal((4, 64, 96)) * 4).astype(np.float32)
    got, want = _run_both("gelu", [x], {"approximate": "none"})
    np.testing.assert_array_equal(got, want)


def test_tanh_gelu():
    x = (RNG.standard_normal((4, 33, 17)) * 4).astype(np.float32)
    got, want = _run_both("gelu", [x], {"approximate": "tanh"})
    np.testing.assert_allclose(got, want, rtol=4 * RTOL, atol=ATOL)


def test_float64_stays_on_the_reference():
    g = Graph("f64")
    x = g.add_input("x", TensorType("f64", (2, 3)))
    g.set_outputs([g.add("softmax", [x], {}, name="y").output])
    assert len(NumbaExecutor(g).fallback_nodes) == 1
