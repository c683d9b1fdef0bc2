"""Minifloat conv2d / linear on the Numba backend: the exact sum of decoded products,
equal to a float64 computation of it and bit for bit to the reference interpreter."""
import numpy as np
import pytest

from qcompiler.backends.numba.executor import NumbaExecutor
from qcompiler.backends.numba.kernels.minifloat import minifloat_product
from qcompiler.ir import Graph, MinifloatType
from qcompiler.numerics.minifloat import decode_table, fake_quantize, format_of, quantize
from qcompiler.numerics.minifloat_products import blas_product, ordered_product, sum_is_exact
from qcompiler.runtime.reference import run_graph

RNG = np.random.default_rng(0)
FORMATS = {"e4m3": dict(format="e4m3", no_nan_inf=True), "e5m2": dict(format="e5m2"),
           "e2m3": dict(format="e2m3", finite=True), "e2m1": dict(format="e2m1", finite=True)}


def _graph(op: str, fmt: dict, x_shape, w_shape, out_type=None, **attrs) -> Graph:
    g = Graph("mf")
    x = g.add_input("x", MinifloatType(expressed="f32", shape=x_shape, scale=0.05, **fmt))
    scales = RNG.uniform(0.01, 0.1, w_shape[0]).astype(np.float32)
    w_type = MinifloatType(expressed="f32", shape=w_shape, axis=0, scale=scales, **FORMATS["e4m3"])
    w = g.constant(fake_quantize(RNG.standard_normal(w_shape).astype(np.float32) * 0.3, w_type), name="w", type=w_type)
    b = g.constant(RNG.standard_normal(w_shape[0]).astype(np.float32), name="b")
    y = g.add(op, [x, w, b], attrs, name="y", output_types=[out_type] if out_type else None)
    g.set_outputs([y.output])
    return g


def _values(array, t) -> np.ndarray:
    """The unscaled format values of `array`'s codes, in float64."""
    return decode_table(format_of(t))[quantize(array, t)]


def _exact(graph, x) -> np.ndarray:
    """Σ values_x · values_w in float64 (numpy), times s_x · s_w, then the float32 bias."""
    node = next(n for n in graph.nodes if n.op in ("linear", "conv2d"))
    tx, tw = node.inputs[0].type, node.inputs[1].type
    xv, wv = _values(x, tx), _values(graph.const_value(node.inputs[1]), tw)
    scale = tx.scale * tw.scale_array.astype(np.float64)
    b = graph.const_value(node.inputs[2])
    if node.op == "linear":
        return ((xv @ wv.T) * scale).astype(np.float32) + b
    cols = np.lib.stride_tricks.sliding_window_view(np.pad(xv, [(0, 0), (0, 0), (1, 1), (1, 1)]), (3, 3), axis=(2, 3))
    return (np.einsum("nchwij,ocij->nohw", cols, wv) * scale[:, None, None]).astype(np.float32) + b[:, None, None]


@pytest.mark.parametrize("name", FORMATS)
def test_linear_is_the_exact_sum_and_equals_the_reference(name):
    graph = _graph("linear", FORMATS[name], (6, 40), (5, 40))
    x = RNG.standard_normal((6, 40)).astype(np.float32)
    executor = NumbaExecutor(graph)
    assert executor.fallback_nodes == []
    got = executor([x])[0]
    np.testing.assert_array_equal(got, _exact(graph, x))
    assert np.array_equal(got, run_graph(graph, [x])[0])


@pytest.mark.parametrize("name", ["e4m3", "e5m2", "e2m3"])
def test_conv2d_equals_the_reference_bit_for_bit(name):
    graph = _graph("conv2d", FORMATS[name], (2, 3, 6, 6), (4, 3, 3, 3), pad=[1, 1, 1, 1], stride=[2, 2])
    x = RNG.standard_normal((2, 3, 6, 6)).astype(np.float32) * 4
    executor = NumbaExecutor(graph)
    assert executor.fallback_nodes == []
    assert np.array_equal(executor([x])[0], run_graph(graph, [x])[0])


def test_conv2d_with_fused_relu_and_a_minifloat_result():
    out_type = MinifloatType("e4m3", "f32", (2, 4, 5, 5), no_nan_inf=True, scale=0.02)
    graph = _graph("conv2d", FORMATS["e4m3"], (2, 3, 5, 5), (4, 3, 3, 3), out_type, pad=[1, 1, 1, 1],
                   activation="relu")
    x = RNG.standard_normal((2, 3, 5, 5)).astype(np.float32)
    executor = NumbaExecutor(graph)
    assert executor.fallback_nodes == []
    got = executor([x])[0]
    np.testing.assert_array_equal(got, fake_quantize(np.maximum(_exact(graph, x), 0), out_type))
    assert np.array_equal(got, run_graph(graph, [x])[0])


def test_kernel_sums_in_the_rules_order_beyond_the_exact_bound():
    """e5m2 x e5m2 sums of 512 do not fit 53 bits, so the order shows: the kernel's float64
    sums equal the rule's ordered numpy statement, and differ from BLAS's order."""
    table = decode_table(format_of(MinifloatType("e5m2", "f32", (1,))))
    finite = np.flatnonzero(np.isfinite(table)).astype(np.uint16)
    codes, w_values = RNG.choice(finite, (16, 512)), table[RNG.choice(finite, (8, 512))]
    assert not sum_is_exact(table, table, 512)
    ordered = ordered_product(codes, table, w_values)
    assert np.array_equal(minifloat_product(codes, table, w_values), ordered)
    assert not np.array_equal(blas_product(codes, table, w_values), ordered)
