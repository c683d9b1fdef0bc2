"""bias-correct: the mean output shift of quantized weights folded into the bias."""
import numpy as np
import pytest

from quantize_graphs import data_for, quantized, single_layer
from qcompiler.ir.core import Graph
from qcompiler.ir.parser import parse
from qcompiler.ir.printer import print_graph
from qcompiler.ir.types import f32
from qcompiler.numerics.affine import dequantize
from qcompiler.numerics.sqnr import sqnr_db
from qcompiler.passmanager import PassContext, PassError, PassManager, run_pipeline
from qcompiler.runtime.reference import run_graph


def linear_with_bias(seed=0) -> Graph:
    rng = np.random.default_rng(seed)
    g = Graph("fc")
    x = g.add_input("x", f32("N", 16))
    w = g.constant(rng.normal(size=(8, 16)).astype(np.float32), name="w", origin="fc.weight")
    b = g.constant(rng.normal(size=8).astype(np.float32), name="b", origin="fc.bias")
    g.set_outputs([g.add("linear", [x, w, b], name="y").output])
    return g


DATA = data_for(linear_with_bias(), n=256, mean=1.5)  # a mean input lets weight error shift the output


def test_the_added_bias_is_the_mean_weight_error_times_the_layer_input():
    g = linear_with_bias()
    w_float = g.const_value(g.find("w")).astype(np.float64)
    b_before = g.const_value(g.find("b")).copy()
    g, _ = quantized(g, "calibrate,quantize{weights=i2},bias-correct{samples=256}", data=DATA)
    w = g.find("w")
    x_q = g.find("y").producer.inputs[0].type
    x_seen = dequantize(np.clip(np.rint(DATA / x_q.scale.array) + x_q.zero_point.array, 0, 255), x_q)
    expected = x_seen.astype(np.float64) @ (w_float - dequantize(g.const_value(w), w.type)).T
    bias = g.find("y").producer.inputs[2]
    assert np.allclose(g.const_value(bias) - b_before, expected.mean(axis=0), atol=1e-5)
    assert bias.producer.attrs["origin"] == "fc.bias"
    assert "b" not in [v.name for v in g.values()]  # the replaced bias constant is gone


def test_correction_removes_the_mean_output_error_and_raises_sqnr():
    reference = run_graph(linear_with_bias(), [DATA])[0]
    results = {}
    for pipeline in ("calibrate,quantize{weights=i2}", "calibrate,quantize{weights=i2},bias-correct"):
        out = run_graph(quantized(linear_with_bias(), pipeline, data=DATA)[0], [DATA])[0]
        results[pipeline] = (np.abs((reference - out).mean(axis=0)).max(), sqnr_db(reference, out))
    (shift, sqnr), (shift_corrected, sqnr_corrected) = results.values()
    assert shift_corrected < 0.1 * shift
    assert sqnr_corrected > sqnr + 2


def test_a_bias_is_created_and_the_shift_is_measured_before_the_fused_activation():
    rng = np.random.default_rng(2)
    g = Graph("conv")
    x = g.add_input("x", f32("N", 4, 3, 3))
    w = g.constant(rng.normal(size=(5, 4, 1, 1)).astype(np.float32), name="w")
    g.set_outputs([g.add("conv2d", [x, w], {"activation": "relu"}, name="y").output])
    w_float = g.const_value(w).astype(np.float64)[:, :, 0, 0]
    data = data_for(g, n=64, mean=2.0)
    ctx = PassContext(calibration=data)
    pm = PassManager("calibrate,quantize{weights=i4},bias-correct")
    pm.run(g, ctx)
    conv = g.find("y").producer
    assert len(conv.inputs) == 3 and conv.attrs["q.bias_corrected"] is True
    t = conv.inputs[0].type
    x_seen = dequantize(np.clip(np.rint(data / t.scale.array) + t.zero_point.array, 0, 255), t)
    error = w_float - dequantize(g.const_value(conv.inputs[1]), conv.inputs[1].type)[:, :, 0, 0]
    expected = error @ x_seen.astype(np.float64).mean(axis=(0, 2, 3))  # a 1x1 conv mixes channels only
    assert np.allclose(g.const_value(conv.inputs[2]), expected, atol=1e-5)
    assert pm.history[-1].stats == {"corrected": ["y"]}


def test_a_second_run_leaves_corrected_layers_alone():
    g, _ = quantized(linear_with_bias(), "calibrate,quantize{weights=i2},bias-correct", data=DATA)
    corrected = g.const_value(g.find("y").producer.inputs[2]).copy()
    pm = PassManager("bias-correct")
    pm.run(g, PassContext(calibration=DATA))
    assert np.array_equal(g.const_value(g.find("y").producer.inputs[2]), corrected)
    assert pm.history[-1].changed is False


def test_it_needs_calibration_data():
    g, _ = quantized(linear_with_bias(), data=DATA)
    with pytest.raises(PassError, match="bias-correct needs calibration data"):
        run_pipeline(g, "bias-correct", PassContext())


def test_it_needs_the_float_weights_of_the_same_pipeline():
    g, _ = quantized(linear_with_bias(), data=DATA)
    blobs = []
    reloaded = parse(print_graph(g, blobs), blobs)
    with pytest.raises(PassError, match="run bias-correct right after quantize"):
        run_pipeline(reloaded, "bias-correct", PassContext(calibration=DATA))


def test_nothing_to_correct_without_quantized_layers():
    g = single_layer("linear", ("N", 4), (3, 4))
    pm = PassManager("bias-correct")
    pm.run(g, PassContext())
    assert pm.history[-1].changed is False
