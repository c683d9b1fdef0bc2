"""MinifloatType per channel and with every code finite: printed, parsed, verified."""
import numpy as np
import pytest

from qcompiler.ir import Graph, MinifloatType, VerifyError, graphs_equal, parse, print_graph, verify


def _graph(t: MinifloatType) -> Graph:
    g = Graph("mf")
    g.set_outputs([g.add("relu", [g.add_input("x", t)], name="r").output])
    return g


def test_per_channel_finite_type_round_trips():
    t = MinifloatType("e2m3", "f32", (3, "N"), finite=True, axis=0, scale=np.float32([0.5, 0.25, 2.0]))
    assert t.no_nan_inf  # every code finite implies no NaN/Inf
    g = _graph(t)
    verify(g)
    text = print_graph(g)
    assert "mf<e2m3:f32, bias=1, fn, finite, axis=0, scale=dense<[0.5, 0.25, 2.0]>" in text
    assert graphs_equal(parse(text), g) and parse(text).inputs[0].type == t


@pytest.mark.parametrize("axis,scale", [(0, [1.0, 2.0]), (2, [1.0, 1.0, 1.0]), (0, [1.0, -1.0, 1.0])])
def test_per_channel_scale_must_fit_its_axis_and_be_positive(axis, scale):
    g = _graph(MinifloatType("e4m3", "f32", (3, 4), axis=axis, scale=np.float32(scale)))
    with pytest.raises(VerifyError, match="minifloat (per-channel scale shape|scale must be finite)"):
        verify(g)
