"""The text form round-trips: parse(print(g)) equals g and prints to identical text."""
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from qcompiler.ir import (CodebookType, Dense, Graph, MinifloatType, ParseError, QuantType, TensorType, graph_diff,
                          parse, print_graph, verify)
from qcompiler.ir.printer import format_float
from qcompiler.ir.types import STORAGE_RANGES


def roundtrip(g: Graph) -> str:
    verify(g)
    blobs = []
    text = print_graph(g, blobs)
    again = parse(text, blobs)
    assert graph_diff(again, g) is None, text
    assert print_graph(again, []) == text
    return text


def small_net() -> Graph:
    """Every type kind, attribute kind, None operands, multi-result and opaque nodes."""
    g = Graph("net")
    g.opset_imports = {"": 17, "com.microsoft": 1}
    x = g.add_input("x", TensorType("f32", ("N", 1, 8, 8)))
    g.input_attrs["x"] = {"q.range": [-1.0, 2.5]}
    w = g.constant(np.linspace(-1, 1, 16 * 9, dtype=np.float32).reshape(16, 1, 3, 3), name="w0", origin="conv1.weight")
    b = g.constant(np.zeros(16, np.float32), name="b0")
    c = g.add("conv2d", [x, w, b], {"stride": [1, 1], "pad": [1, 1, 1, 1], "q.bits": 4, "q.sens": 0.013,
                                     "q.method": 'm"se\\\n\u00e9', "q.flag": False, "q.none": None,
                                     "q.range": [-1.9, 2.3, math.inf, -math.inf, math.nan],
                                     "q.nested": [[1, 2], [], ["a", True]], "q.dict": {"b": 1, "a key": [0.5]},
                                     "q.dense": Dense(np.array([[1, 2], [3, 4]], np.int8))}, name="c0")
    a, s = g.add("split", [c.output], {"axis": 1, "sizes": [8, 8]}, name="a").outputs
    r = g.add("relu", [a], output_types=[QuantType("u8", "f32", ("N", 8, 8, 8), scale=0.0123, zero_point=128)], name="r")
    qw = QuantType("i4", "f32", (16, 1, 3, 3), scale=np.linspace(0.01, 0.2, 16, dtype=np.float32),
                   zero_point=np.zeros(16, np.int32), axis=0)
    q = g.add("identity", [w], output_types=[qw], name="wq")
    grouped = QuantType("i8", "bf16", (16, 64), scale=np.full((16, 2), 0.5, np.float32),
                        zero_point=np.zeros((16, 2), np.int32), axis=1, group=32)
    gq = g.constant(np.arange(16 * 64, dtype=np.int8).reshape(16, 64) % 7 - 3, name="gq", type=grouped)
    m = g.add("identity", [s], output_types=[MinifloatType("e4m3", "f32", ("N", 8, 8, 8), no_nan_inf=True)], name="m")
    h = g.add_input("h", TensorType("f16", (4,)))
    mf = g.add("identity", [h], output_types=[MinifloatType("e5m2", "f16", (4,), scale=0.25)])
    cb = g.add("identity", [w], output_types=[CodebookType(6, 2, (3, 3), "f32", (16, 1, 3, 3))], name="cb")
    for arr in [np.array(True), np.zeros((0, 3), np.float32), np.array([0.1, -0.0, 1e-30], np.float16),
                np.array([np.nan, np.inf, 1 / 3]), np.array([-128, 127], np.int8), np.arange(4, dtype=np.uint8)]:
        g.constant(arr)
    nms = g.add("onnx.NonMaxSuppression", [x, None], {"center_point_box": 0}, name="nms",
                output_types=[TensorType("i64", ("?", 3))])
    g.add("onnx.com.microsoft.Sink", [r.output], output_types=[])
    g.set_outputs([r.output, q.output, gq, m.output, mf.output, cb.output, nms.output, x, r.output])
    return g


def test_hand_written_graph_roundtrips():
    text = roundtrip(small_net())
    assert "attributes {opset_imports={\"\"=17, com.microsoft=1}}" in text.splitlines()[0]
    assert "%x: f32[N,1,8,8] {q.range=[-1.0, 2.5]}" in text
    assert "%a, %a_1 = split(%c0) {axis=1, sizes=[8, 8]} : f32[N,8,8,8], f32[N,8,8,8]" in text
    assert "q<u8:f32, scale=0.0123, zp=128>[N,8,8,8]" in text
    assert "q<i8:bf16, axis=1, group=32, scale=dense<blob:" in text
    assert "mf<e4m3:f32, bias=7, fn, scale=1.0>[N,8,8,8]" in text
    assert "mf<e5m2:f16, bias=15, scale=0.25>[4]" in text
    assert "cb<cb6:idx2:f32, kernel=[3, 3]>[16,1,3,3]" in text
    assert "onnx.NonMaxSuppression(%x, None) {center_point_box=0} : i64[?,3]" in text
    assert "onnx.com.microsoft.Sink(%r) : ()" in text
    assert "value=dense<[0.1, -0.0, 0.0]> : f16[3]" in text  # 1e-30 underflows in f16
    assert "value=dense<[nan, inf, 0.3333333333333333]> : f64[3]" in text


def test_printing_is_deterministic_and_attributes_are_sorted():
    assert print_graph(small_net()) == print_graph(small_net())
    g = Graph("g")
    x = g.add_input("x", TensorType("f32", (2,)))
    y = g.add("identity", [x], {"q.z": 1, "q.a": {"z": 1, "a": 2}, "q.m": 3}, name="y")
    g.set_outputs([y.output])
    assert "%y = identity(%x) {q.a={a=2, z=1}, q.m=3, q.z=1} : f32[2]" in print_graph(g)


def test_large_arrays_go_to_blobs_in_order():
    g = small_net()
    blobs = []
    text = print_graph(g, blobs)
    assert all(f"dense<blob:{k}>" in text for k in range(len(blobs)))
    grouped_scale = "scale=dense<blob:0> : f32[16,2], zp=dense<blob:1> : i32[16,2]>[16,64]"
    assert text.count(grouped_scale) == 2  # the header and the constant share the blobs
    assert "value=dense<blob:3> : f32[16,1,3,3]" in text and len(blobs) == 4
    np.testing.assert_array_equal(blobs[3], g.find("w0").producer.attrs["value"].array)
    assert print_graph(g) == text  # without a blobs list the text is the same, the arrays are just not kept
    with pytest.raises(ParseError, match="needs the blobs"):
        parse(text)


def test_quoted_names_dims_and_keys_roundtrip():
    g = Graph("my net")
    x = g.add_input("x", TensorType("f32", ("batch size", "true", 3)))
    y = g.add("identity", [x], {"q.weird key": 1, "q.": {"": "x", "inf": 2}}, name="y")
    g.set_outputs([y.output])
    text = roundtrip(g)
    assert text.startswith('graph @"my net"(%x: f32["batch size","true",3])')


def test_comments_are_ignored():
    g = parse("// header\ngraph @g(%x: f32[2]) -> (f32[2]) { // body\n  %y = relu(%x) : f32[2] // relu\n  return %y\n}\n// end")
    assert [n.op for n in g.nodes] == ["relu"] and g.outputs[0].name == "y"


def test_result_types_are_taken_as_written():
    g = parse("graph @g(%x: f32[N,2]) -> (f32[4,2]) {\n  %y = relu(%x) : f32[4,2]\n  return %y\n}")
    assert g.outputs[0].type == TensorType("f32", (4, 2))


@given(hnp.from_dtype(np.dtype(np.float32), allow_nan=True, allow_infinity=True, allow_subnormal=True)
       | hnp.from_dtype(np.dtype(np.float16)) | st.floats(allow_nan=False))
@example(np.float32(1e12))  # numpy's "1e+12" is shorter than repr's "999999995904.0"
@example(np.float16(65504))
def test_floats_print_shortest_and_exact(x):
    dtype = {np.dtype(np.float32): "f32", np.dtype(np.float16): "f16"}.get(np.asarray(x).dtype, "f64")
    text = format_float(x, dtype)
    back = np.asarray(float(text), dtype=np.asarray(x).dtype)
    assert back == x or (np.isnan(back) and np.isnan(x))
    assert np.signbit(back) == np.signbit(x) or np.isnan(x)
    assert len(text) <= len(repr(float(x)))


# --- random graphs --------------------------------------------------------------------------
NAMES = st.from_regex(r"[A-Za-z0-9_.$-]{1,6}", fullmatch=True)
ARRAY_DTYPES = ["f64", "f32", "f16", "i64", "i32", "i16", "i8", "u8", "bool"]
NP = {"f64": np.float64, "f32": np.float32, "f16": np.float16, "i64": np.int64, "i32": np.int32,
      "i16": np.int16, "i8": np.int8, "u8": np.uint8, "bool": np.bool_}
SHAPES = st.lists(st.integers(1, 4) | st.sampled_from(["N", "batch"]), max_size=3).map(tuple)


def dense_arrays(max_elements=40):
    return st.sampled_from(ARRAY_DTYPES).flatmap(lambda d: hnp.arrays(
        NP[d], hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5).filter(
            lambda s: int(np.prod(s)) <= max_elements)))


ATTR_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8) | dense_arrays(20).map(Dense),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6)
Q_ATTRS = st.dictionaries(st.text(max_size=6).map(lambda k: "q." + k), ATTR_VALUES, max_size=3)


@st.composite
def quant_types(draw, shape):
    storage = draw(st.sampled_from(sorted(STORAGE_RANGES)))
    lo, hi = STORAGE_RANGES[storage]
    channel_axes = [i for i, d in enumerate(shape) if isinstance(d, int)]
    axis = draw(st.sampled_from(channel_axes)) if channel_axes and draw(st.booleans()) else None
    n = 1 if axis is None else shape[axis]
    scale = draw(hnp.arrays(np.float32, n, elements=st.floats(2.0**-20, 1e3, width=32)))
    zp = draw(hnp.arrays(np.int32, n, elements=st.integers(max(lo, -2**31), min(hi, 2**31 - 1))))
    if axis is None and draw(st.booleans()):
        scale, zp = scale.reshape(()), zp.reshape(())
    return QuantType(storage, "f32", shape, scale=scale, zero_point=zp, axis=axis)


@st.composite
def result_types(draw, shape):
    kind = draw(st.sampled_from(["plain", "plain", "quant", "minifloat", "codebook"]))
    if kind == "quant":
        return draw(quant_types(shape))
    if kind == "minifloat":
        return MinifloatType(draw(st.sampled_from(["e4m3", "e5m2", "e2m1"])), "f32", shape,
                             no_nan_inf=draw(st.booleans()), scale=draw(st.floats(1e-3, 1e3)))
    if kind == "codebook":
        return CodebookType(draw(st.integers(1, 8)), draw(st.integers(1, 8)), (3, 3), "f32", shape)
    return TensorType("f32", shape)


@st.composite
def graphs(draw):
    g = Graph(draw(NAMES))
    pool = []  # values that compute as f32 (possibly quantized)
    for _ in range(draw(st.integers(1, 3))):
        shape = draw(SHAPES)
        pool.append(g.add_input(draw(NAMES), draw(result_types(shape))))
        if draw(st.booleans()):
            g.input_attrs[pool[-1].name] = draw(Q_ATTRS)
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["const", "unary", "binary"]))
        if kind == "const":
            array = draw(dense_arrays())
            v = g.constant(array, name=draw(NAMES), origin=draw(st.none() | st.text(max_size=5)))
            if array.dtype == np.float32:
                pool.append(v)
            continue
        x = draw(st.sampled_from(pool))
        if kind == "unary":
            inputs = [x]
        else:
            same = [v for v in pool if v.type.shape == x.type.shape]
            inputs = [x, draw(st.sampled_from(same))]
            if draw(st.booleans()):
                inputs.reverse()
        op = draw(st.sampled_from(["relu", "identity", "neg"] if kind == "unary" else ["add", "mul", "sub"]))
        out_type = draw(result_types(x.type.shape))
        pool.append(g.add(op, inputs, draw(Q_ATTRS), name=draw(NAMES), output_types=[out_type]).output)
    values = list(g.values())
    g.set_outputs(draw(st.lists(st.sampled_from(values), min_size=1, max_size=3)))
    return g


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs())
def test_random_graphs_roundtrip(g):
    roundtrip(g)
