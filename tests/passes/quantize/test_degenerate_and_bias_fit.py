"""Degenerate ranges (an all-zero weight channel, an activation that was 0 on every
calibration sample) get ordinary scales, and a bias that would not fit the int32
accumulator at s_x · s_w raises that channel's weight scale; the graphs then lower and
the integer model agrees with the float one."""
import numpy as np
import pytest

from quantize_graphs import quantized
from qcompiler.backends.numba.executor import NumbaExecutor
from qcompiler.ir.core import Graph
from qcompiler.ir.types import f32
from qcompiler.passes.quantize.degenerate import MIN_SCALE
from qcompiler.runtime.reference import run_graph

PIPELINE = "calibrate,quantize,lower"


def conv_with_channel(weight_scale: float, bias: float, scaled=(1,), seed=0) -> Graph:
    """x[N,4,6,6] -> conv2d(3 output channels), the weights of channels `scaled` times
    `weight_scale` (0: all zero, as fold-bn leaves a channel whose gamma is 0), channel
    1's bias `bias`."""
    rng = np.random.default_rng(seed)
    g = Graph("conv")
    x = g.add_input("x", f32("N", 4, 6, 6))
    w = rng.normal(size=(3, 4, 3, 3)).astype(np.float32)
    w[list(scaled)] *= weight_scale
    b = np.array([0.5, bias, -0.25], np.float32)
    c = g.add("conv2d", [x, g.constant(w, name="w", origin="conv.weight"), g.constant(b, name="b")],
              {"pad": [1, 1, 1, 1]}, name="c").output
    g.set_outputs([c])
    return g


def _data(n=16, seed=1, scale=1.0):
    return (np.random.default_rng(seed).normal(size=(n, 4, 6, 6)) * scale).astype(np.float32)


@pytest.mark.parametrize("bias", [0.0, 1e-25, 1e-3])
def test_an_all_zero_channel_lowers_and_keeps_its_bias(bias):
    x = _data()
    reference = run_graph(conv_with_channel(0.0, bias), [x])[0]
    g, ctx = quantized(conv_with_channel(0.0, bias), PIPELINE, data=x)
    w = g.find("c").producer.inputs[1].type
    scales = w.scale.array
    assert scales[1] == scales.max() and scales.min() > MIN_SCALE  # the widest channel's scale
    notes = [d.message for d in ctx.diagnostics if "degenerate" in d.message]
    assert len(notes) == 1 and "'conv2d' (%c)" in notes[0] and "channel 1;" in notes[0]
    y = NumbaExecutor(g)([x])[0]
    step = float(g.outputs[0].type.scale.array)
    assert np.abs(y - reference).max() <= 4 * step
    # the zero channel is its bias, to within an output step
    assert np.abs(y[:, 1] - bias).max() <= step


def test_a_bias_too_large_for_a_tiny_weight_channel_raises_its_weight_scale():
    # channel 1: weights ~1e-7 and a bias of 50; at s_w ~ 2e-9 and s_x ~ 1.5 the bias would
    # need ~2e10 units, 10 times the int32 headroom
    x = _data(scale=50.0)
    graph = conv_with_channel(1e-7, 50.0)
    reference = run_graph(graph, [x])[0]
    calibrated, _ = quantized(conv_with_channel(1e-7, 50.0), "calibrate", data=x)
    w_range = calibrated.find("w").producer.attrs["q.range"].array
    g, ctx = quantized(graph, PIPELINE, data=x)
    warned = [d.message for d in ctx.diagnostics if "does not fit" in d.message]
    assert len(warned) == 1 and "'conv2d' (%c)" in warned[0] and "channel 1 " in warned[0]
    conv = g.find("c").producer
    scales = conv.inputs[1].type.scale.array
    assert scales[1] > np.abs(w_range[1]).max() / 127 * 5  # raised
    assert np.allclose(scales[[0, 2]], np.abs(w_range[[0, 2]]).max(axis=1) / 127)  # others untouched
    bias = g.const_value(conv.inputs[2]).astype(np.int64)
    assert conv.op == "qconv2d" and 2**30 < bias[1] < 2**31 - 1  # the lowering proved it fits, tightly
    y = NumbaExecutor(g)([x])[0]
    step = float(g.outputs[0].type.scale.array)
    assert np.abs(y - reference).max() <= 4 * step


def test_a_per_tensor_weight_takes_the_largest_scale_any_channel_needs():
    x = _data(scale=50.0)
    graph = conv_with_channel(1e-7, 50.0, scaled=(0, 1, 2))
    reference = run_graph(graph, [x])[0]
    g, ctx = quantized(graph, "calibrate,quantize{granularity=tensor},lower", data=x)
    assert any("does not fit" in d.message and "the tensor" in d.message for d in ctx.diagnostics)
    assert g.find("c").producer.op == "qconv2d"
    step = float(g.outputs[0].type.scale.array)
    assert np.abs(NumbaExecutor(g)([x])[0] - reference).max() <= 4 * step


def test_all_zero_calibration_data_gives_unit_range_activations():
    graph = conv_with_channel(1.0, 0.0)
    x = np.zeros((4, 4, 6, 6), np.float32)
    g, ctx = quantized(graph, PIPELINE, data=x)
    warned = [d.message for d in ctx.diagnostics if "degenerate calibrated range" in d.message]
    assert warned and "%x" in warned[0]
    convert = g.find("c").producer.inputs[0].type
    assert float(convert.scale.array) == pytest.approx(2 / 255)  # [-1, 1] in u8
    y = NumbaExecutor(g)([x])[0]
    np.testing.assert_allclose(y, run_graph(conv_with_channel(1.0, 0.0), [x])[0], atol=0.01)
