"""MinifloatType: defined, printed, parsed and verified (the passes that produce it come later)."""
import pytest

from qcompiler.ir import Graph, MinifloatType, VerifyError, graphs_equal, parse, print_graph, verify


def _graph(t: MinifloatType) -> Graph:
    g = Graph("mf")
    x = g.add_input("x", t)
    g.set_outputs([g.add("relu", [x], name="r").output])
    return g


@pytest.mark.parametrize("fmt,no_nan_inf,bias", [("e4m3", True, 7), ("e5m2", False, 15), ("e3m2", True, 3),
                                                  ("e2m3", True, 1), ("e4m3", False, 8)])
def test_formats_round_trip_and_verify(fmt, no_nan_inf, bias):
    t = MinifloatType(fmt, "f32", ("N", 16), bias=bias, no_nan_inf=no_nan_inf, scale=0.5)
    g = _graph(t)
    verify(g)
    text = print_graph(g)
    assert graphs_equal(parse(text), g)
    assert parse(text).inputs[0].type == t


def test_default_bias_is_ieee_style_and_bits_add_up():
    t = MinifloatType("e5m2", "f32", (4,))
    assert t.bias == 15 and t.bits == 8
    assert MinifloatType("e2m3", "f32", (4,)).bits == 6


@pytest.mark.parametrize("kwargs,message", [
    ({"scale": 0.0}, "minifloat scale must be finite and > 0"),
    ({"scale": float("inf")}, "minifloat scale must be finite and > 0"),
    ({"bias": 16}, r"minifloat e4m3 bias 16 outside \[0, 15\]"),
    ({"bias": -1}, r"minifloat e4m3 bias -1 outside \[0, 15\]"),
])
def test_bad_parameters_are_named(kwargs, message):
    g = _graph(MinifloatType("e4m3", "f32", (4,), **kwargs))
    with pytest.raises(VerifyError, match=r"graph input %x: " + message):
        verify(g)


def test_unknown_format_is_rejected_with_the_valid_ones():
    with pytest.raises(ValueError, match="unknown minifloat format 'e9m9'.*e4m3"):
        MinifloatType("e9m9", "f32", (4,))
