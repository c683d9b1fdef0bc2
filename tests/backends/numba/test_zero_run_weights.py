"""Weights stored in zero-run code: the sparse convolution (nonzero taps only) equals the
reference integer for integer over random shapes, strides, pads, groups and densities,
int64 accumulators included; a pruned digits CNN compiled with `zero-run-encode` saves
its encoded bytes, loads, and runs equal to the reference."""
import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import qcompiler
from numba_cases import compare, counted_calls, qtype, reference_storage, requant_attrs
from qcompiler.backends.numba import NumbaExecutor
from qcompiler.backends.numba.ops import INTEGER_STEPS, zero_channels, zero_runs
from qcompiler.backends.numba.ops.zero_runs import sparse_conv_plan
from qcompiler.ir.core import Graph
from qcompiler.ir.registry import infer_types
from qcompiler.ir.types import TensorType
from qcompiler.numerics.zero_runs import encode_zero_runs, pack_code
from qcompiler.runtime.reference import ExecutionError, run_graph
from qcompiler.testing.zoo import DigitsCNN, digits_data


@pytest.fixture
def sparse_runs(monkeypatch):
    """Counts the sparse kernel's runs (`calls`); `every_density()` lets it take any weight."""
    return SimpleNamespace(calls=counted_calls(monkeypatch, zero_runs, "qconv2d_sparse_kernel"),
                           every_density=lambda: monkeypatch.setattr(zero_runs, "SPARSE_MAX_DENSITY", 1.0))


def sparse_weight_operand(g: Graph, w_t, stored: np.ndarray):
    """A zero_run_weight node of `stored` under type `w_t`, as zero-run-encode writes it."""
    code = encode_zero_runs(stored, 4)
    runs, values = pack_code(code, w_t.bits)
    parts = [g.constant(a, name=f"w.{p}", type=TensorType("u8", a.shape)) for p, a in (("runs", runs),
                                                                                       ("values", values))]
    attrs = {"entries": code.entries, "base": code.base, "shape": list(w_t.shape), "index_bits": 4}
    return g.add("zero_run_weight", parts, attrs, name="w", output_types=[w_t]).output


def sparse_conv(rng, op, x_t, w_t, stored, bias, attrs):
    g = Graph(op)
    x = g.add_input("x", x_t)
    w = sparse_weight_operand(g, w_t, stored)
    b = g.constant(bias, name="b", type=qtype("i32", bias.shape, scale=1e-3, axis=0))
    out_t = qtype("u8", infer_types(op, [x_t, w_t, b.type], attrs)[0].shape, zp=128)
    node = g.add(op, [x, w, b], attrs, name="y", output_types=[out_t])
    g.set_outputs(node.outputs)
    return node


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_sparse_convolution_equals_the_reference(sparse_runs, data):
    sparse_runs.every_density()
    runs_before = len(sparse_runs.calls)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    op = data.draw(st.sampled_from(["qconv2d", "qconv1d"]))
    groups = data.draw(st.sampled_from([1, 2]))
    cin, cout = 2 * data.draw(st.integers(1, 4)), 2 * data.draw(st.integers(1, 4))
    kernel = (data.draw(st.integers(1, 3)),) * (2 if op == "qconv2d" else 1)
    spatial = len(kernel)
    w_storage = data.draw(st.sampled_from(["i8", "i4", "i2"]))
    density = data.draw(st.sampled_from([0.0, 0.1, 0.3, 0.7, 1.0]))
    w_t = qtype(w_storage, (cout, cin // groups) + kernel, scale=0.02, axis=0)
    lo, hi = w_t.qmin, w_t.qmax
    stored = np.where(rng.random(w_t.shape) < density, rng.integers(lo, hi + 1, w_t.shape), 0).astype(np.int32)
    x_t = qtype(data.draw(st.sampled_from(["u8", "i8"])), (2, cin) + (7,) * spatial, zp=3)
    attrs = {"stride": [data.draw(st.integers(1, 2))] * spatial, "pad": [data.draw(st.integers(0, 1))] * 2 * spatial,
             "dilation": [data.draw(st.integers(1, 2))] * spatial, "groups": groups, "clamp": [0, 255],
             **requant_attrs(rng, cout, "half_even", (1e-3, 1e-2))}
    bias = rng.integers(-500, 500, cout).astype(np.int32)
    node = sparse_conv(rng, op, x_t, w_t, stored, bias, attrs)
    plan = sparse_conv_plan(node)
    assert plan.nonzero == np.count_nonzero(stored) and plan.dense_taps == stored.size
    compare(node, [rng.integers(x_t.qmin, x_t.qmax + 1, x_t.shape).astype(np.int32), stored, bias])
    assert len(sparse_runs.calls) == runs_before + 1


@pytest.mark.parametrize("density, sparse", [(0.01, True), (0.5, False)])
def test_only_a_weight_sparse_enough_to_pay_runs_the_sparse_kernel(density, sparse, sparse_runs):
    rng = np.random.default_rng(2)
    w_t = qtype("i8", (8, 16, 3, 3), scale=0.02, axis=0)
    stored = np.where(rng.random(w_t.shape) < density, rng.integers(-127, 128, w_t.shape), 0).astype(np.int32)
    x_t = qtype("u8", (1, 16, 9, 9), zp=128)
    attrs = {"pad": [1, 1, 1, 1], "groups": 1, "clamp": [0, 255], **requant_attrs(rng, 8, "half_even", (1e-4, 1e-3))}
    node = sparse_conv(rng, "qconv2d", x_t, w_t, stored, np.zeros(8, np.int32), attrs)
    assert np.count_nonzero(stored) <= zero_runs.SPARSE_MAX_DENSITY * stored.size or not sparse
    compare(node, [rng.integers(0, 256, x_t.shape).astype(np.int32), stored, np.zeros(8, np.int32)])
    assert len(sparse_runs.calls) == int(sparse)


def test_an_accumulator_not_proven_int32_runs_int64_and_overflow_is_reported(sparse_runs):
    sparse_runs.every_density()
    rng = np.random.default_rng(1)
    w_t = qtype("i8", (2, 4, 3, 3), scale=0.02, axis=0)
    stored = np.where(rng.random(w_t.shape) < 0.5, 127, 0).astype(np.int32)
    x_t = qtype("u8", (1, 4, 6, 6), zp=0)
    attrs = {"pad": [1, 1, 1, 1], "groups": 1, "clamp": [0, 255], **requant_attrs(rng, 2, "half_up", (1e-9, 2e-9))}
    bias = np.full(2, 2**31 - 10**4, np.int32)  # no room left in the proof: int64 accumulators
    node = sparse_conv(rng, "qconv2d", x_t, w_t, stored, bias, attrs)
    compare(node, [np.zeros(x_t.shape, np.int32), stored, bias])  # zero input: fits, equals the reference
    with pytest.raises(ExecutionError, match="accumulator outside int32"):
        INTEGER_STEPS["qconv2d"](node)([np.full(x_t.shape, 255, np.int32), stored, bias])
    assert len(sparse_runs.calls) == 2


@pytest.fixture(scope="module")
def pruned_digits(tmp_path_factory):
    torch.manual_seed(0)
    x_train, _, x_test, _ = digits_data()
    pipeline = "fold-bn,fuse-activations,prune{sparsity=0.7},calibrate{samples=64},quantize,lower,zero-run-encode"
    cm = qcompiler.compile(DigitsCNN().eval(), target="x86-vnni", calibration=x_train[:64].numpy(), pipeline=pipeline,
                  progress=False)
    directory = tmp_path_factory.mktemp("pruned") / "model"
    cm.save(directory)
    return cm, directory, x_test[:32].numpy()


def test_pruned_model_stores_zero_run_code_and_loads_equal_to_the_reference(pruned_digits):
    cm, directory, x = pruned_digits
    encoded = [n for n in cm.graph.nodes if n.op == "zero_run_weight"]
    assert len(encoded) == 3 and not any(n.op in ("qconv2d", "qlinear") and Graph.const_value(n.inputs[1]) is not None
                                         for n in cm.graph.nodes)
    stored = {n.outputs[0].name: sum(Graph.const_value(v).nbytes for v in n.inputs) for n in encoded}
    blobs = np.load(directory / "model.npz")
    # no array of a weight's dense size is saved; the runs and values are (small ones print in the .qir)
    sizes = {blobs[k].size for k in blobs.files}
    assert not sizes & {n.outputs[0].type.numel() for n in encoded}
    dense = sum(n.outputs[0].type.numel() for n in encoded)  # i8: one byte a weight
    assert sum(stored.values()) < 0.6 * dense
    loaded = qcompiler.load(directory)
    assert json.loads((directory / "meta.json").read_text())["pipeline"].endswith("zero-run-encode")
    want = run_graph(cm.graph, [x])[0]
    np.testing.assert_array_equal(run_graph(loaded.graph, [x])[0], want)
    ex = NumbaExecutor(loaded.graph)
    assert not ex.fallback_nodes
    got = ex.run_storage([x])
    for name, value in reference_storage(loaded.graph, [x]).items():
        np.testing.assert_array_equal(got[name], value, err_msg=name)
    np.testing.assert_array_equal(loaded(x), want)


def test_the_report_sizes_encoded_weights_by_their_stored_bytes(pruned_digits):
    cm, _, _ = pruned_digits
    report = cm.report()
    encoded = {n.outputs[0].name: n for n in cm.graph.nodes if n.op == "zero_run_weight"}
    rows = {r["layer"]: r for r in report.rows}
    assert not set(encoded) & set(rows)  # weights, not layers
    for node in cm.graph.nodes:
        if node.op in ("qconv2d", "qlinear"):
            w = node.inputs[1]
            code = sum(Graph.const_value(v).nbytes for v in encoded[w.name].inputs) + 4
            bias = node.inputs[2].type.numel() * 4
            assert rows[node.outputs[0].name]["bytes"] == code + bias
            assert rows[node.outputs[0].name]["w_bits_per_weight"] == pytest.approx(8 * code / w.type.numel())
            assert rows[node.outputs[0].name]["params"] == w.type.numel() + node.inputs[2].type.numel()


@pytest.fixture
def live_channel_runs(monkeypatch):
    """Counts the convolutions prepared on their live channels only."""
    return counted_calls(monkeypatch, zero_channels, "_live_node")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_zero_output_channels_are_constants_and_the_rest_a_smaller_convolution(live_channel_runs, data):
    prepared_before = len(live_channel_runs)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    op = data.draw(st.sampled_from(["qconv2d", "qconv1d"]))
    cin, cout = data.draw(st.integers(1, 6)), data.draw(st.integers(2, 9))
    kernel = (data.draw(st.integers(1, 3)),) * (2 if op == "qconv2d" else 1)
    spatial = len(kernel)
    per_channel = data.draw(st.booleans())
    w_t = qtype("i8", (cout, cin) + kernel, scale=0.02, axis=0 if per_channel else None)
    dead = rng.permutation(cout)[:data.draw(st.integers(1, cout - 1))]
    stored = rng.integers(-127, 128, w_t.shape).astype(np.int32)
    stored[stored == 0] = 1  # a live channel of one weight drawn 0 would be dead too
    stored[dead] = 0
    x_t = qtype("u8", (2, cin) + (6,) * spatial, zp=5)
    attrs = {"stride": [data.draw(st.integers(1, 2))] * spatial, "pad": [data.draw(st.integers(0, 1))] * 2 * spatial,
             "groups": 1, "clamp": [0, 255], **requant_attrs(rng, cout, "half_away", (1e-3, 1e-2))}
    bias = rng.integers(-20000, 20000, cout).astype(np.int32)
    node = sparse_conv(rng, op, x_t, w_t, stored, bias, attrs)
    out = compare(node, [rng.integers(0, 256, x_t.shape).astype(np.int32), stored, bias])[0]
    assert len(live_channel_runs) == prepared_before + 1
    per_dead_channel = np.swapaxes(out[:, dead], 0, 1).reshape(dead.size, -1)
    assert np.all(per_dead_channel == per_dead_channel[:, :1])  # one constant each, whatever the input


def test_channel_pruned_digits_cnn_runs_live_channels_equal_to_the_reference(live_channel_runs):
    torch.manual_seed(1)
    x_train, _, x_test, _ = digits_data()
    pipeline = ("fold-bn,fuse-activations,prune{sparsity=0.5,granularity=channel},calibrate{samples=64},quantize,"
                "lower,zero-run-encode")
    cm = qcompiler.compile(DigitsCNN().eval(), target="x86-vnni", calibration=x_train[:64].numpy(), pipeline=pipeline,
                           progress=False)
    x = x_test[:16].numpy()
    ex = NumbaExecutor(cm.graph)
    assert len(live_channel_runs) == 2  # both convolutions lost half their output channels
    got = ex.run_storage([x])
    for name, value in reference_storage(cm.graph, [x]).items():
        np.testing.assert_array_equal(got[name], value, err_msg=name)
