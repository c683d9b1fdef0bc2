"""NumbaExecutor on whole lowered graphs: every value's storage equals the reference
interpreter's, float ops fall back and are reported, malformed nodes are named."""
import numpy as np
import pytest

from lowered_graphs import assert_same_storage, conv_relu_pool_linear, lowered, normal, residual_net
from numba_cases import one_node, qtype, reference_storage, requant_attrs
from qcompiler.backends.numba import NumbaBackendError, NumbaExecutor
from qcompiler.backends.numba.ops.storage import STORAGE_OPS
from qcompiler.ir import Graph
from qcompiler.ir.errors import QIRError
from qcompiler.ir.registry import infer_types
from qcompiler.ir.types import f32
from qcompiler.passes.lowering.pass_through import PASS_THROUGH
from qcompiler.runtime.reference import ExecutionError, run_graph


@pytest.mark.parametrize("target,options", [
    ("generic", ""), ("armv8", "weights=i4"), ("generic", "weights=i2"), ("generic", "weights=b1"), ("x86-avx2", ""),
    ("cortex-m", ""),
])
def test_conv_relu_pool_linear_matches_reference_storage(target, options):
    graph = lowered(conv_relu_pool_linear, target, options)
    ex = NumbaExecutor(graph)
    assert ex.fallback_nodes == []
    inputs = [normal(3, 3, 10, 10)]
    assert_same_storage(graph, ex.run_storage(inputs), reference_storage(graph, inputs))
    (got,), (want,) = ex(inputs), run_graph(graph, inputs)
    assert got.dtype == np.float32 and np.array_equal(got, want)


def test_residual_net_matches_reference_and_its_float_softmax_to_float32_rounding():
    graph = lowered(residual_net)
    ex = NumbaExecutor(graph)
    ops = {n.op for n in graph.nodes}
    assert {"qconv2d", "qadd", "qglobal_avg_pool", "qlinear", "max_pool2d", "dequantize", "softmax"} <= ops, ops
    assert ex.fallback_nodes == []  # the float softmax runs on its row kernel (test_numba_float_rows.py)
    inputs = {"x": normal(2, 4, 12, 12)}
    assert_same_storage(graph, ex.run_storage(inputs), reference_storage(graph, inputs), 5e-7, 1e-7)
    np.testing.assert_allclose(ex(inputs)[0], run_graph(graph, inputs)[0], rtol=5e-7, atol=1e-7)


def test_pass_through_ops_run_on_storage_only_with_shared_parameters():
    x_t = qtype("u8", (2, 3), zp=40)
    same = one_node("relu", [(x_t, None)], {}, x_t).graph
    other = one_node("relu", [(x_t, None)], {}, qtype("u8", (2, 3), zp=0, scale=0.025)).graph
    assert NumbaExecutor(same).fallback_nodes == []
    assert NumbaExecutor(other).fallback_nodes == ["'relu' (%y)"]
    x = np.linspace(-3, 3, 6, dtype=np.float32).reshape(2, 3)
    for graph in (same, other):
        np.testing.assert_array_equal(NumbaExecutor(graph).run_storage([x])["y"], reference_storage(graph, [x])["y"])


def test_result_that_is_not_quantized_is_named():
    x_t, w_t = qtype("u8", (1, 2, 4, 4)), qtype("i8", (3, 2, 1, 1))
    attrs = {**requant_attrs(np.random.default_rng(0), 1, "half_even"), "clamp": [0, 255]}
    node = one_node("qconv2d", [(x_t, None), (w_t, np.ones((3, 2, 1, 1), np.int32))], attrs, f32(1, 3, 4, 4))
    with pytest.raises(NumbaBackendError, match=r"'qconv2d' \(%y\).*per-tensor quantized type"):
        NumbaExecutor(node.graph)


def test_unsupported_weight_storage_is_named():
    x_t, w_t = qtype("u8", (1, 2, 4, 4)), qtype("i32", (3, 2, 1, 1))
    attrs = {**requant_attrs(np.random.default_rng(0), 1, "half_even"), "clamp": [0, 255]}
    node = one_node("qconv2d", [(x_t, None), (w_t, np.ones((3, 2, 1, 1), np.int32))], attrs, qtype("u8", (1, 3, 4, 4)))
    with pytest.raises(NumbaBackendError, match=r"'qconv2d' \(%y\): weight storage i32"):
        NumbaExecutor(node.graph)


def _wide_conv(x_value):
    """i16 activations and 576-long reductions: int32 cannot be proven, int64 accumulates."""
    x_t, w_t = qtype("i16", (1, 64, 3, 3)), qtype("i8", (2, 64, 3, 3))
    attrs = {**requant_attrs(np.random.default_rng(0), 1, "half_up", (1e-7, 1e-6)), "clamp": [-128, 127]}
    node = one_node("qconv2d", [(x_t, None), (w_t, np.full((2, 64, 3, 3), 127, np.int32))], attrs,
                    qtype("i8", (1, 2, 1, 1)))
    return node.graph, [np.full((1, 64, 3, 3), x_value * 0.05, np.float32)]


def test_wide_accumulators_match_reference_when_in_range():
    graph, inputs = _wide_conv(1000)
    assert_same_storage(graph, NumbaExecutor(graph).run_storage(inputs), reference_storage(graph, inputs))


def test_accumulator_overflow_is_an_error_naming_the_node_like_the_reference():
    graph, inputs = _wide_conv(32000)
    with pytest.raises(ExecutionError, match="outside int32"):
        run_graph(graph, inputs)
    with pytest.raises(ExecutionError, match=r"'qconv2d' \(%y\).*outside int32"):
        NumbaExecutor(graph).run_storage(inputs)


def test_every_op_lower_leaves_on_storage_runs_on_storage():
    assert set(PASS_THROUGH) <= STORAGE_OPS


@pytest.mark.parametrize("op,extra,attrs", [
    ("gather", np.array([2, 0, 2], np.int64), {"axis": 1}), ("tile", np.array([2, 1], np.int64), {}),
    ("expand", np.array([3, 2, 3], np.int64), {}), ("transpose", None, {"perm": [1, 0]}),
    ("max_pool1d", None, {"kernel": [2], "pad": [1, 1]}), ("concat", "self", {"axis": 0}),
])
def test_storage_pass_throughs_match_reference(op, extra, attrs):
    x_t = qtype("i8", (2, 3), zp=-7)
    g = Graph(op)
    x = g.add_input("x", x_t)
    if op == "max_pool1d":
        x = g.add("unsqueeze", [x], {"axes": [0]}, name="x3", output_types=[qtype("i8", (1, 2, 3), zp=-7)]).output
    if isinstance(extra, str):  # concat of x with itself
        operands = [x, x]
    else:
        operands = [x] if extra is None else [x, g.constant(extra)]
    shape = infer_types(op, [v.type for v in operands], attrs, [g.const_value(v) for v in operands])[0].shape
    g.set_outputs([g.add(op, operands, attrs, name="y", output_types=[qtype("i8", shape, zp=-7)]).output])
    ex = NumbaExecutor(g)
    assert ex.fallback_nodes == []
    x_in = [np.linspace(-5, 5, 6, dtype=np.float32).reshape(2, 3)]
    assert_same_storage(g, ex.run_storage(x_in), reference_storage(g, x_in))


def test_node_with_inconsistent_operand_types_is_named():
    w_t = qtype("i8", (3, 2, 1, 1))
    attrs = {**requant_attrs(np.random.default_rng(0), 1, "half_even"), "clamp": [0, 255]}
    node = one_node("qconv2d", [(f32(1, 2, 4, 4), None), (w_t, np.ones((3, 2, 1, 1), np.int32))], attrs,
                    qtype("u8", (1, 3, 4, 4)))
    with pytest.raises(QIRError, match=r"qconv2d.*operand 'x' must be quantized"):
        NumbaExecutor(node.graph)
