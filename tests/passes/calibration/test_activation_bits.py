"""Activation ranges searched for the width they are stored in (activation_bits.py): 2-bit
calibration clips where the values are stored in 2 bits, keeps the 8-bit search for the
edge layers' inputs and the logits, and a layer's q.act_bits sets its input's width."""
import numpy as np
import pytest

from qcompiler.ir.core import Graph
from qcompiler.ir.types import f32
from qcompiler.passes.calibration.activation_bits import edge_layers, planned_bits
from qcompiler.passmanager import PassContext, run_pipeline


def three_layers(seed=0) -> Graph:
    """x -> conv a -> relu -> conv b -> relu -> flatten -> linear y (the logits)."""
    rng = np.random.default_rng(seed)
    g = Graph("three")
    x = g.add_input("x", f32("N", 2, 6, 6))
    a = g.add("conv2d", [x, g.constant(rng.normal(size=(4, 2, 3, 3)).astype(np.float32), name="wa")],
              {"pad": [1, 1, 1, 1]}, name="a").output
    ra = g.add("relu", [a], name="ra").output
    b = g.add("conv2d", [ra, g.constant(rng.normal(size=(4, 4, 3, 3)).astype(np.float32), name="wb")],
              {"pad": [1, 1, 1, 1]}, name="b").output
    rb = g.add("relu", [b], name="rb").output
    f = g.add("flatten", [rb], name="f").output
    g.set_outputs([g.add("linear", [f, g.constant(rng.normal(size=(3, 144)).astype(np.float32), name="wy")],
                         name="y").output])
    return g


def calibrated(graph: Graph, pipeline: str) -> Graph:
    data = np.random.default_rng(1).normal(size=(64, 2, 6, 6)).astype(np.float32)
    run_pipeline(graph, pipeline, PassContext(calibration=data))
    return graph


def test_the_edge_layers_are_the_first_and_the_last():
    g = three_layers()
    assert [n.output.name for n in edge_layers(g)] == ["a", "y"]


def test_below_4_bits_edge_inputs_and_logits_are_planned_at_8_bits():
    g = three_layers()
    widths = {name: planned_bits(g, 2)[id(g.find(name))] for name in ("x", "a", "ra", "b", "rb", "f", "y")}
    assert widths == {"x": 8, "a": 2, "ra": 2, "b": 8, "rb": 8, "f": 8, "y": 8}
    assert set(planned_bits(g, 4).values()) == {4}  # from 4 bits on, every value takes the default


@pytest.mark.parametrize("method", ["mse", "kl"])
def test_2bit_ranges_clip_only_the_values_stored_in_2_bits(method):
    wide = calibrated(three_layers(), f"calibrate{{method={method},bits=8}}")
    narrow = calibrated(three_layers(), f"calibrate{{method={method},bits=2}}")

    def hi(g, name):
        return g.find(name).producer.attrs["q.range"][1]

    assert hi(narrow, "a") < 0.8 * hi(wide, "a")   # a relu'd conv stored in 2 bits: clipped much harder
    assert hi(narrow, "b") == hi(wide, "b")        # read by the 8-bit classifier: the 8-bit search
    assert narrow.find("b").producer.attrs["q.range_bits"] == 8
    assert "q.range_bits" not in narrow.find("a").producer.attrs  # the pass's own width is not repeated


def test_a_layers_act_bits_sets_the_width_its_input_is_calibrated_for():
    g = three_layers()
    g.find("b").producer.attrs["q.act_bits"] = 2
    asked = calibrated(g, "calibrate{method=mse,bits=8}")
    narrow = calibrated(three_layers(), "calibrate{method=mse,bits=2}")
    a = asked.find("a").producer
    assert a.attrs["q.range_bits"] == 2 and a.attrs["q.range"] == narrow.find("a").producer.attrs["q.range"]


def test_under_binary_activations_values_an_add_touches_are_planned_at_8_bits():
    rng = np.random.default_rng(0)
    g = Graph("residual")
    x = g.add_input("x", f32("N", 2, 6, 6))

    def conv(v, name, cin):
        w = g.constant(rng.normal(size=(4, cin, 3, 3)).astype(np.float32), name=f"w{name}")
        return g.add("conv2d", [v, w], {"pad": [1, 1, 1, 1]}, name=name).output

    a = conv(x, "a", 2)
    b = conv(conv(a, "b", 4), "c", 4)
    s = g.add("add", [a, b], name="s").output
    f = g.add("flatten", [conv(s, "d", 4)], name="f").output
    g.set_outputs([g.add("linear", [f, g.constant(rng.normal(size=(3, 144)).astype(np.float32), name="wy")],
                         name="y").output])
    one, two = planned_bits(g, 1), planned_bits(g, 2)
    assert [one[id(g.find(n))] for n in "abcs"] == [8, 1, 8, 8]  # b: between two convs; c, a, s: the add's
    assert [two[id(g.find(n))] for n in "abcs"] == [2, 2, 2, 2]
