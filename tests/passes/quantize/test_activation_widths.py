"""Per-layer activation widths: a layer's q.act_bits chooses the storage of the activation
it reads, with the target's signedness, fallbacks that warn, one width per tie group."""
import numpy as np
import pytest

from quantize_graphs import quantized, small_cnn
from qcompiler.ir.core import Graph
from qcompiler.ir.types import f32
from qcompiler.passmanager import PassError


def test_a_layers_act_bits_set_the_storage_of_its_input_and_its_tie_group():
    g = small_cnn()  # x -> conv c -> relu r -> max_pool p -> flatten f -> linear y -> softmax
    g.find("y").producer.attrs["q.act_bits"] = 4
    g, ctx = quantized(g)
    # generic runs u8, i8, i4: 4 bits next to the default u8 is i4 (no u4), without a warning
    assert [g.find(n).type.storage for n in ("f", "p", "r")] == ["i4", "i4", "i4"]  # pass-through ties
    assert g.find("x_q").type.storage == "u8"  # the conv asked for nothing: the default
    assert ctx.diagnostics == []


def test_the_signedness_follows_the_activation_option():
    g = small_cnn()
    g.find("c").producer.attrs["q.act_bits"] = 4
    g, ctx = quantized(g, "calibrate,quantize{acts=i8}")
    assert g.find("x_q").type.storage == "i4" and g.find("f").type.storage == "i8"
    assert ctx.diagnostics == []


def test_a_width_the_target_cannot_run_falls_back_with_a_warning_naming_the_node():
    g = small_cnn()
    g.find("y").producer.attrs["q.act_bits"] = 4
    g, ctx = quantized(g, target="armv8")  # i8 and u8 activations only
    assert g.find("f").type.storage == "i8"
    [warning] = ctx.diagnostics
    assert warning.node == "y" and warning.severity == "warning"
    assert "'linear' (%y): 4-bit input activations are not supported by target 'armv8'" in warning.message
    assert "using i8" in warning.message


def two_readers() -> Graph:
    """x -> linear a, linear b (both read x) -> add."""
    rng = np.random.default_rng(0)
    g = Graph("two_readers")
    x = g.add_input("x", f32("N", 6))
    a = g.add("linear", [x, g.constant(rng.normal(size=(3, 6)).astype(np.float32), name="wa")], name="a").output
    b = g.add("linear", [x, g.constant(rng.normal(size=(3, 6)).astype(np.float32), name="wb")], name="b").output
    g.set_outputs([g.add("add", [a, b], name="s").output])
    return g


def test_readers_that_disagree_get_the_widest_width_and_a_warning():
    g = two_readers()
    g.find("a").producer.attrs["q.act_bits"] = 4
    g.find("b").producer.attrs["q.act_bits"] = 8
    g, ctx = quantized(g)
    assert g.find("x_q").type.storage == "u8"
    [warning] = ctx.diagnostics
    assert warning.node == "x" and "'linear' (%a) asks for i4, 'linear' (%b) asks for u8" in warning.message
    assert "using the widest, u8" in warning.message


def test_readers_that_agree_share_the_narrow_width():
    g = two_readers()
    for name in "ab":
        g.find(name).producer.attrs["q.act_bits"] = 4
    g, ctx = quantized(g)
    assert g.find("x_q").type.storage == "i4" and g.find("a").type.storage == "u8"
    assert ctx.diagnostics == []


def test_a_malformed_act_bits_is_named():
    g = small_cnn()
    g.find("y").producer.attrs["q.act_bits"] = "four"
    with pytest.raises(PassError, match=r"node 'linear' \(%y\): q.act_bits = 'four' is not a bit width in 1..32"):
        quantized(g)
