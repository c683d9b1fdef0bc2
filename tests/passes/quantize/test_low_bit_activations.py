"""quantize{acts=u2|i2|b1} and q.act_bits=2|1: 1- and 2-bit activation types from calibrated
ranges (hypothesis over ranges: a binary ReLU output is the levels 0 and 2s, a two-signed
range ±s), the same fake-quant values in the numpy and torch simulations, and clear answers
for widths the target cannot run."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from quantize_graphs import data_for, quantized, single_layer, small_cnn
from qcompiler.ir.types import STORAGE_RANGES
from qcompiler.numerics.affine import dequantize, quantize
from qcompiler.passmanager import PassContext, PipelineError, run_pipeline
from qcompiler.runtime.reference import run_graph
from qcompiler.runtime.torch import run_torch


def linear_with_ranges(lo: float, hi: float):
    """One linear reading x calibrated to [lo, hi], asking for 2-bit input (it is an edge layer)."""
    g = single_layer("linear", ("N", 6), (3, 6))
    g.input_attrs["x"] = {"q.range": [lo, hi]}
    g.find("w").producer.attrs["q.range"] = [-3.0, 3.0]
    g.find("y").producer.attrs.update({"q.range": [-1.0, 1.0], "q.act_bits": 2})
    return g


@settings(max_examples=40, deadline=None)
@given(lo=st.floats(-50, 50, allow_nan=False), extent=st.floats(1e-3, 100, allow_nan=False),
       storage=st.sampled_from(["u2", "i2"]), seed=st.integers(0, 2**16))
def test_2bit_activations_hold_zero_and_the_range_to_half_a_step(lo, extent, storage, seed):
    g = linear_with_ranges(lo, lo + extent)
    run_pipeline(g, f"quantize{{acts={storage}}}", PassContext())
    t = g.find("x_q").type
    assert t.storage == storage and (t.qmin, t.qmax) == STORAGE_RANGES[storage]
    levels = np.arange(t.qmin, t.qmax + 1)
    assert np.array_equal(quantize(dequantize(levels, t), t), levels)  # the grid is fixed
    assert dequantize(quantize(np.float32(0), t), t) == 0  # zero exact: padding and relu rely on it
    scale = float(t.scale.array)
    x = np.random.default_rng(seed).uniform(min(lo, 0), max(lo + extent, 0), 256).astype(np.float32)
    assert np.abs(dequantize(quantize(x, t), t) - x).max() <= scale * 0.5 * (1 + 1e-5) + 1e-6
    inputs = [np.random.default_rng(seed).normal(size=(4, 6)).astype(np.float32) * extent]
    np.testing.assert_allclose(run_torch(g, inputs)[0], run_graph(g, inputs)[0], rtol=1e-5, atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(lo=st.floats(-50, 50, allow_nan=False), extent=st.floats(1e-3, 100, allow_nan=False),
       seed=st.integers(0, 2**16))
def test_binary_activations_take_the_nearest_of_their_two_levels(lo, extent, seed):
    g = linear_with_ranges(lo, lo + extent)
    g.find("y").producer.attrs["q.act_bits"] = 1
    run_pipeline(g, "quantize{acts=b1}", PassContext())
    t = g.find("x_q").type
    levels = dequantize(np.array([-1, 1]), t)
    assert t.storage == "b1" and int(t.zero_point.array) in (-1, 0, 1)
    if lo >= 0:  # a ReLU-like range: the levels 0 and 2s, zero exact
        assert int(t.zero_point.array) == -1 and levels[0] == 0
    x = np.random.default_rng(seed).uniform(min(lo, 0), max(lo + extent, 0), 256).astype(np.float32)
    q = quantize(x, t)
    assert set(np.unique(q)) <= {-1, 1}
    nearest = np.abs(x[:, None] - levels[None]).argmin(axis=1) * 2 - 1
    ties = np.isclose(np.abs(x - levels[0]), np.abs(x - levels[1]), rtol=1e-6, atol=0)
    assert np.array_equal(q[~ties], nearest[~ties])
    inputs = [np.random.default_rng(seed).normal(size=(4, 6)).astype(np.float32) * extent]
    np.testing.assert_allclose(run_torch(g, inputs)[0], run_graph(g, inputs)[0], rtol=1e-5, atol=1e-6)


def test_acts_u2_is_stored_in_2_bits_with_the_edges_at_8():
    g, ctx = quantized(small_cnn(), "calibrate{bits=2},quantize{acts=u2}")
    # x -> conv c -> relu r -> max_pool p -> flatten f -> linear y -> softmax: both layers are edges
    assert {g.find(n).type.storage for n in ("x_q", "c", "f", "y")} == {"u8"}
    assert g.find("y").producer.attrs["q.act_bits"] == 8 and g.find("y").producer.attrs["q.bits"] == 8
    assert [d.severity for d in ctx.diagnostics] == ["note"]


def test_a_middle_layers_act_bits_2_reads_2_bits_without_a_fallback_warning():
    g = single_layer("linear", ("N", 6), (6, 6))
    y = g.find("y")
    z = g.add("linear", [y, g.constant(np.ones((2, 6), np.float32), name="wz")], name="z").output
    g.set_outputs([z])
    g.find("z").producer.attrs["q.act_bits"] = 2
    g, ctx = quantized(g, data=data_for(g))
    assert g.find("y").type.storage == "u2" and ctx.diagnostics == []


def test_one_bit_activations_are_binary_where_the_target_runs_them_else_a_warned_fallback():
    g = small_cnn()
    g.find("y").producer.attrs["q.act_bits"] = 1
    g, ctx = quantized(g)
    assert g.find("f").type.storage == "b1" and ctx.diagnostics == []
    g = small_cnn()
    g.find("y").producer.attrs["q.act_bits"] = 1
    g, ctx = quantized(g, target="x86-vnni")  # u8 and i8 activations only
    assert g.find("f").type.storage == "u8"
    [warning] = ctx.diagnostics
    assert "'linear' (%y): 1-bit input activations are not supported by target 'x86-vnni'" in warning.message


def test_acts_of_no_storage_type_is_a_pipeline_error():
    with pytest.raises(PipelineError, match="acts='u1' is not an activation storage type; expected one of "
                                            "u8, i8, u4, i4, u2, i2, b1"):
        run_pipeline(small_cnn(), "quantize{acts=u1}", PassContext())
