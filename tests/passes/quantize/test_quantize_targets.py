"""Bit widths and targets: per-node q.bits, fallbacks with warnings, reduce-range."""
import numpy as np
import pytest

from quantize_graphs import quantized, single_layer, small_cnn, weight_consts
from qcompiler.numerics.affine import dequantize


def test_node_q_bits_overrides_the_pass_option():
    g = small_cnn()
    g.find("c").producer.attrs["q.bits"] = 4
    g, ctx = quantized(g, "calibrate,quantize{weights=i8}")
    w, fw = g.find("w"), g.find("fw")
    assert (w.type.storage, fw.type.storage) == ("i4", "i8")
    stored = g.const_value(w)
    assert stored.dtype == np.int8 and stored.min() >= -8 and stored.max() <= 7 and np.abs(stored).max() == 7
    assert g.find("c").producer.attrs["q.bits"] == 4 and g.find("y").producer.attrs["q.bits"] == 8
    assert ctx.diagnostics == []


@pytest.mark.parametrize("weights, lo, hi", [("i4", -8, 7), ("i2", -2, 1)])
def test_low_bit_weights(weights, lo, hi):
    g, _ = quantized(small_cnn(), f"calibrate,quantize{{weights={weights}}}")
    for node in weight_consts(g):
        assert node.output.type.storage == weights
        stored = node.attrs["value"].array
        assert stored.dtype == np.int8 and stored.min() >= lo and stored.max() <= hi


def test_a_width_without_storage_keeps_its_grid_in_the_next_container():
    g = small_cnn()
    g.find("c").producer.attrs["q.bits"] = 3
    g, ctx = quantized(g)
    stored = g.const_value(g.find("w"))
    assert g.find("w").type.storage == "i4" and g.find("c").producer.attrs["q.bits"] == 3
    assert stored.min() == -4 or stored.max() == 3  # the 3-bit grid's ends, inside i4's [-8, 7]
    assert -4 <= stored.min() and stored.max() <= 3 and ctx.diagnostics == []


def test_a_width_the_target_has_no_container_for_takes_the_fallback_width_with_a_warning():
    g = small_cnn()
    g.find("c").producer.attrs["q.bits"] = 3
    g, ctx = quantized(g, target="cortex-m")
    assert g.find("w").type.storage == "i8" and g.find("c").producer.attrs["q.bits"] == 8
    warning = next(d for d in ctx.diagnostics if d.node == "c")
    assert "i4 weights are not supported by target 'cortex-m'" in warning.message and "using i8" in warning.message


def test_binary_weights_use_the_mean_magnitude_per_channel():
    g = single_layer("linear", ("N", 8), (6, 8))
    original = g.const_value(g.find("w")).copy()
    g.find("y").producer.attrs["q.bits"] = 1
    g, _ = quantized(g)
    w = g.find("w")
    assert w.type.storage == "b1" and set(np.unique(g.const_value(w))) <= {-1, 1}
    assert np.allclose(w.type.scale.array, np.abs(original).mean(axis=1), rtol=1e-6)
    assert np.array_equal(np.sign(dequantize(g.const_value(w), w.type)), np.where(original >= 0, 1, -1))


def test_cortex_m_falls_back_from_i4_to_i8_with_a_warning_per_node():
    g, ctx = quantized(small_cnn(), "calibrate,quantize{weights=i4}", target="cortex-m")
    assert {n.output.type.storage for n in weight_consts(g)} == {"i8"}
    warnings = {d.node: d.message for d in ctx.diagnostics if d.severity == "warning"}
    assert set(warnings) == {"c", "y"}
    assert "i4 weights are not supported by target 'cortex-m'" in warnings["c"] and "using i8" in warnings["c"]
    assert all(d.pass_name == "quantize" for d in ctx.diagnostics)
    # cortex-m runs i8 activations only: the target's storage is the default
    assert g.find("r").type.storage == "i8"


def test_unsupported_activation_storage_and_granularity_fall_back_with_warnings():
    g, ctx = quantized(small_cnn(), "calibrate,quantize{acts=u8,granularity=tensor}", target="cortex-m")
    assert g.find("r").type.storage == "i8" and g.find("w").type.granularity == "channel"
    messages = " | ".join(d.message for d in ctx.diagnostics)
    assert "no u8 activations" in messages and "using i8" in messages
    assert "no tensor weight granularity" in messages and "using channel" in messages


def test_x86_avx2_keeps_i8_weights_in_7_bits_next_to_u8_activations():
    g, _ = quantized(small_cnn(), target="x86-avx2")
    for node in weight_consts(g):
        stored = node.attrs["value"].array
        assert stored.min() >= -64 and stored.max() <= 63 and np.abs(stored).max() >= 63
        # the worst u8 x s8 pair sum of vpmaddubsw stays below the int16 limit
        assert 255 * int(np.abs(stored).max()) * 2 <= 32767
    for layer in ("c", "y"):
        assert g.find(layer).producer.attrs["q.reduce_range"] is True


def test_reduce_range_holds_for_asymmetric_weights_too():
    g, _ = quantized(small_cnn(), "calibrate,quantize{symmetric=false}", target="x86-avx2")
    for node in weight_consts(g):
        stored = node.attrs["value"].array
        assert stored.min() >= -64 and stored.max() <= 63


@pytest.mark.parametrize("target", ["x86-vnni", "generic"])
def test_other_targets_use_the_full_i8_range(target):
    g, _ = quantized(small_cnn(), target=target)
    assert max(np.abs(n.attrs["value"].array).max() for n in weight_consts(g)) == 127
    assert "q.reduce_range" not in g.find("c").producer.attrs
