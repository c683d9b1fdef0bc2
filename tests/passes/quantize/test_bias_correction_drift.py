"""bias-correct{drift=true}: each layer's bias takes the mean output shift between the float
model and the quantized graph whose earlier layers are already corrected; and the mean
input is taken per input shape."""
import numpy as np
import pytest

import qcompiler
from quantize_graphs import data_for, quantized
from qcompiler.ir.core import Graph
from qcompiler.ir.types import f32
from qcompiler.numerics.affine import dequantize
from qcompiler.numerics.sqnr import sqnr_db
from qcompiler.passmanager import PassContext, run_pipeline
from qcompiler.passes.quantize.errors import QuantizeError
from qcompiler.passes.quantize.float_shadow import run_float
from qcompiler.runtime.reference import run_graph


def two_layers(seed=0) -> Graph:
    """x[N,16] -> linear + relu -> linear."""
    rng = np.random.default_rng(seed)
    g = Graph("mlp")
    x = g.add_input("x", f32("N", 16))
    w1 = g.constant(rng.normal(size=(32, 16)).astype(np.float32) / 4, name="w1")
    h = g.add("linear", [x, w1], {"activation": "relu"}, name="h").output
    w2 = g.constant(rng.normal(size=(8, 32)).astype(np.float32) / 6, name="w2")
    b2 = g.constant(np.zeros(8, np.float32), name="b2")
    g.set_outputs([g.add("linear", [h, w2, b2], name="y").output])
    return g


CALIBRATION, HELD_OUT = data_for(two_layers(), n=256, seed=1), data_for(two_layers(), n=256, seed=2)


MODES = ("", ",bias-correct", ",bias-correct{drift=true}")
# clipped ranges (2% of each activation's values) lower the mean of what the next layer
# reads: a drift of its inputs that no weight error explains
CLIPPING = "calibrate{method=percentile,percentile=98},quantize"


@pytest.fixture(scope="module")
def compiled():
    return {mode: quantized(two_layers(), CLIPPING + mode, data=CALIBRATION)[0] for mode in MODES}


def mean_shift(graph, data) -> float:
    reference = run_graph(two_layers(), [data])[0]
    return float(np.abs((run_graph(graph, [data])[0] - reference).mean(axis=0)).max())


def test_on_the_calibration_data_drift_correction_leaves_no_mean_shift(compiled):
    shift = {mode: mean_shift(g, CALIBRATION) for mode, g in compiled.items()}
    assert shift[",bias-correct{drift=true}"] < 0.005 < 0.03 < shift[",bias-correct"]


def test_on_other_data_drift_correction_halves_the_mean_shift_and_raises_sqnr(compiled):
    shift = {mode: mean_shift(g, HELD_OUT) for mode, g in compiled.items()}
    assert shift[",bias-correct{drift=true}"] < 0.6 * min(shift[""], shift[",bias-correct"])
    reference = run_graph(two_layers(), [HELD_OUT])[0]
    sqnr = {mode: sqnr_db(reference, run_graph(g, [HELD_OUT])[0]) for mode, g in compiled.items()}
    assert sqnr[",bias-correct{drift=true}"] > max(sqnr[""], sqnr[",bias-correct"]) + 0.05


def corrected_first_layer(data, options="") -> tuple:
    """(the first layer's bias after bias-correct{drift=true}, W E[x_float] - Q(W) E[x_quantized])."""
    g = two_layers()
    w_float = g.const_value(g.find("w1")).astype(np.float64)
    g, _ = quantized(g, f"calibrate,quantize{{weights=i2}},bias-correct{{drift=true{options}}}", data=data)
    layer = g.find("h").producer
    t, w = layer.inputs[0].type, layer.inputs[1]
    x_seen = dequantize(np.clip(np.rint(data / t.scale.array) + t.zero_point.array, 0, 255), t)
    unshrunk = data.astype(np.float64).mean(axis=0) @ w_float.T \
        - x_seen.astype(np.float64).mean(axis=0) @ dequantize(g.const_value(w), w.type).T
    return g.const_value(layer.inputs[2]), unshrunk


def test_the_first_layer_takes_float_weights_on_float_inputs_minus_quantized_on_quantized():
    # a mean input makes the weight error's shift stand out of the samples' noise: little shrinkage
    bias, expected = corrected_first_layer(data_for(two_layers(), n=256, mean=1.5))
    assert np.all(np.abs(bias - expected) <= 0.05 * np.abs(expected) + 0.03)
    assert np.abs(expected).max() > 1


def test_a_mean_of_pure_sampling_noise_is_shrunk_towards_zero():
    """Zero-mean inputs: the weight error shifts no mean, and what 4 samples show is their
    noise, which the shrinkage keeps mostly out of the bias."""
    bias, unshrunk = corrected_first_layer(CALIBRATION[:4], ",min_samples=1")
    assert np.linalg.norm(bias) < 0.6 * np.linalg.norm(unshrunk)
    assert np.all(np.abs(bias) <= np.abs(unshrunk) + 1e-6)


def test_batches_of_different_widths_are_averaged_over_every_position():
    rng = np.random.default_rng(3)
    g = Graph("conv")
    x = g.add_input("x", f32("N", 3, 5, "W"))
    w = g.constant(rng.normal(size=(4, 3, 3, 3)).astype(np.float32), name="w")
    g.set_outputs([g.add("conv2d", [x, w], {"pad": [1, 1, 1, 1]}, name="y").output])
    w_float = g.const_value(w).astype(np.float64)
    batches = [rng.normal(size=(2, 3, 5, width)).astype(np.float32) + 1 for width in (4, 11)]
    run_pipeline(g, "calibrate,quantize{weights=i4},bias-correct", PassContext(calibration=batches))
    layer = g.find("y").producer
    t, wq = layer.inputs[0].type, layer.inputs[1]
    error = Graph("error")
    xe = error.add_input("x", f32("N", 3, 5, "W"))
    we = error.constant(w_float - dequantize(g.const_value(wq), wq.type), name="w")
    error.set_outputs([error.add("conv2d", [xe, we], {"pad": [1, 1, 1, 1]}, name="y").output])
    seen = [dequantize(np.clip(np.rint(b / t.scale.array) + t.zero_point.array, 0, 255), t) for b in batches]
    shifts = [run_graph(error, [s.astype(np.float32)])[0] for s in seen]
    expected = np.concatenate([s.transpose(1, 0, 2, 3).reshape(4, -1) for s in shifts], axis=1).mean(axis=1)
    assert np.allclose(g.const_value(layer.inputs[2]), expected, atol=1e-4)


def test_the_float_shadow_passes_quantize_through_and_refuses_integer_ops():
    g, _ = quantized(two_layers(), "calibrate,quantize,lower", data=CALIBRATION)
    x = CALIBRATION[:2]
    quantize = next(n for n in g.nodes if n.op == "quantize")
    assert run_float(quantize, [x])[0] is x
    integer = next(n for n in g.nodes if n.op.startswith("q") and n.op != "quantize")
    with pytest.raises(QuantizeError, match=f"{integer.op} has no float form.*run bias-correct before lower"):
        run_float(integer, [x, None])


def test_fewer_samples_than_min_samples_keep_every_bias_with_a_note():
    g, ctx = quantized(two_layers(), "calibrate,quantize,bias-correct{drift=true}", data=CALIBRATION[:15])
    assert g.const_value(g.find("y").producer.inputs[2]).tolist() == [0.0] * 8
    assert not any(n.attrs.get("q.bias_corrected") for n in g.nodes)
    assert any("15 calibration samples, fewer than min_samples=16" in d.message for d in ctx.diagnostics)


def test_a_layer_seen_at_one_position_per_sample_is_corrected_from_16_samples():
    """A classifier sees one position per sample: the shrinkage by the samples' standard
    error weighs its drift, as a conv's (no gate on positions)."""
    g, _ = quantized(two_layers(), CLIPPING + ",bias-correct{drift=true}", data=CALIBRATION[:16])
    assert g.find("y").producer.attrs.get("q.bias_corrected")
    assert np.abs(g.const_value(g.find("y").producer.inputs[2])).max() > 0.01


@pytest.mark.parametrize("target", ["x86-vnni", "armv8"])
def test_the_default_pipeline_corrects_drift_from_16_samples_and_notes_fewer(target):
    def compiled_with(n):
        return qcompiler.compile(two_layers(), target=target, calibration=CALIBRATION[:n], progress=False)

    few, enough = compiled_with(8), compiled_with(16)
    [record] = [r for r in enough.pass_log if r.name == "bias-correct"]
    assert record.changed
    assert any(d.pass_name == "bias-correct" and "8 calibration samples, fewer than min_samples=16" in d.message
               for d in few.diagnostics)
    assert not [r for r in few.pass_log if r.name == "bias-correct"][0].changed


def test_a_channel_with_all_zero_weights_keeps_a_finite_bias():
    """Its drift is exactly 0 on every sample (0/0 in the shrinkage made the bias NaN and
    failed `lower` on PP-OCR rec)."""
    g = two_layers()
    layer = g.find("h").producer
    w1 = g.const_value(layer.inputs[1]).copy()
    w1[3] = 0
    layer.set_inputs([layer.inputs[0], g.constant(w1, name="w1_dead")])
    g, _ = quantized(g, "calibrate,quantize,bias-correct{drift=true}", data=CALIBRATION[:16])
    bias = g.const_value(g.find("h").producer.inputs[2])
    assert np.all(np.isfinite(bias)) and bias[3] == 0
