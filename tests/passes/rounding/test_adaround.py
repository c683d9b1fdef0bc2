"""adaround on one conv and a residual block: learned rounding reconstructs the float
output better than nearest, and changes nothing but the stored integers."""
import numpy as np
import pytest

from rounding_graphs import data, fixed_batch, residual, run, small_conv
from qcompiler.ir.verifier import verify
from qcompiler.passes.rounding.errors import RoundingError
from qcompiler.passes.rounding.float_weights import rounded_weights
from qcompiler.passes.rounding.units import partition, units
from qcompiler.passmanager import PassContext, PassError, PipelineError, PassManager
from qcompiler.runtime.reference import run_graph

CALIBRATION = data(small_conv(), 64, seed=1)
HELD_OUT = data(small_conv(), 64, seed=2)


def names(items) -> list:
    return [item.outputs[0].name if hasattr(item, "op") else item.name for item in items]


def output_mse(graph, x) -> float:
    return float(np.mean((run_graph(graph, [x])[0] - run_graph(small_conv(), [x])[0]) ** 2))


@pytest.fixture(scope="module")
def conv_pair():
    """{bits: (nearest graph, adaround graph, adaround stats)} at 4 and 2 bits."""
    pairs = {}
    for bits in (4, 2):
        quantize = f"calibrate{{method=mse}},quantize{{weights=i{bits}}}"
        nearest = small_conv()
        run(nearest, quantize, CALIBRATION)
        learned = small_conv()
        stats, _ = run(learned, quantize + ",adaround{iters=300,lr=0.03}", CALIBRATION)
        pairs[bits] = nearest, learned, stats["adaround"]
    return pairs


@pytest.mark.parametrize("bits, gain", [(4, 0.6), (2, 0.8)])
def test_learned_rounding_reconstructs_the_conv_better_than_nearest(conv_pair, bits, gain):
    nearest, learned, stats = conv_pair[bits]
    # on the calibration data (what it learned on) and on other samples
    for x in (CALIBRATION, HELD_OUT):
        assert output_mse(learned, x) < gain * output_mse(nearest, x), bits
    layer = stats["layers"]["y"]
    assert layer["mse_learned"] < gain * layer["mse_nearest"] and layer["changed"] > 0
    assert learned.find("y").producer.attrs["q.adaround"] == "layer"


@pytest.mark.parametrize("bits", [4, 2])
def test_only_the_integers_change_and_stay_in_range_within_a_step_of_nearest(conv_pair, bits):
    nearest, learned, _ = conv_pair[bits]
    verify(learned)
    w_nearest, w_learned = nearest.find("w"), learned.find("w")
    assert w_learned.type == w_nearest.type  # storage, scales, zero points
    q = learned.const_value(w_learned).astype(int)
    assert q.min() >= w_learned.type.qmin and q.max() <= w_learned.type.qmax
    assert np.abs(q - nearest.const_value(w_nearest).astype(int)).max() == 1
    for name in ("x_q", "y", "b"):
        assert learned.find(name).type == nearest.find(name).type


def test_avx2_reduced_range_weights_stay_within_seven_bits():
    g = small_conv()
    run(g, "calibrate,quantize,adaround{iters=50,lr=0.05}", CALIBRATION, target="x86-avx2")
    assert g.find("y").producer.attrs.get("q.reduce_range")
    q = g.const_value(g.find("w"))
    assert q.min() >= -64 and q.max() <= 63


def test_blocks_run_up_to_the_add_and_reconstruct_it():
    g = residual()
    calibration = data(g, 64, seed=1)
    run(g, "calibrate,quantize{weights=i4}", calibration)
    segments = partition(g, rounded_weights(g, PassContext()), "block", block_layers=4)
    assert [names(s.nodes) for s in segments] == [["x_q", "a", "r", "b", "s"], ["c"]]
    assert [names(s.inputs) for s in segments] == [["x"], ["s"]]
    assert [names(s.outputs) for s in segments] == [["s"], ["c"]]
    stats, _ = run(g, "adaround{iters=200,lr=0.01,scope=block}", calibration)
    layers = stats["adaround"]["layers"]
    assert layers["a"]["unit"] == layers["b"]["unit"] == "a" and layers["c"]["unit"] == "c"
    assert layers["a"]["mse_learned"] < 0.8 * layers["a"]["mse_nearest"]
    assert g.find("b").producer.attrs["q.adaround"] == "block"


def test_a_block_is_cut_after_block_layers_layers():
    g = residual()
    run(g, "calibrate,quantize{weights=i4}", data(g, 8, seed=1))
    segments = partition(g, rounded_weights(g, PassContext()), "block", block_layers=1)
    assert [names(s.nodes) for s in segments] == [["x_q", "a"], ["r", "b"], ["s"], ["c"]]
    segments = partition(g, rounded_weights(g, PassContext()), "layer", block_layers=1)
    assert [names(s.nodes) for s in segments] == [["x_q"], ["a"], ["r"], ["b"], ["s"], ["c"]]
    assert [names(s.nodes) for s in units(segments)] == [["a"], ["b"], ["c"]]


def test_a_graph_with_a_fixed_batch_learns_and_runs_at_that_batch():
    g = fixed_batch(batch=2)
    stats, _ = run(g, "calibrate,quantize{weights=i4},adaround{iters=20,batch=16}", data(g, 16, seed=1))
    assert set(stats["adaround"]["layers"]) == {"c", "y"}


def test_a_stale_float_cache_is_refused_by_name():
    g = small_conv()
    run(g, "calibrate,quantize{weights=i4}", CALIBRATION)
    const = g.find("w").producer
    const.meta["float_value"] = const.meta["float_value"] + 1.0  # as if another pass changed the weight
    with pytest.raises(PassError, match="weight %w .* more than one step"):
        PassManager("adaround").run(g, PassContext(calibration=CALIBRATION))


@pytest.mark.parametrize("option, message", [("scope=net", "scope='net'"), ("iters=0", "iters=0"),
                                             ("warmup=1.0", "warmup=1.0")])
def test_bad_options_are_named(option, message):
    with pytest.raises((RoundingError, PipelineError), match=message):
        PassManager(f"adaround{{{option}}}")
