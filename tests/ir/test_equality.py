"""graph_diff names the first structural difference; graphs_equal is its yes/no."""
import math

import numpy as np
import pytest

from qcompiler.ir import Dense, Graph, QuantType, TensorType, graph_diff, graphs_equal
from qcompiler.ir.equality import attr_values_equal


def build(op="add", swap=False, attrs=None, name="y", out_type=None, out_name="y", graph_name="g"):
    g = Graph(graph_name)
    a = g.add_input("a", TensorType("f32", (2,)))
    b = g.add_input("b", TensorType("f32", (2,)))
    y = g.add(op, [b, a] if swap else [a, b], attrs if attrs is not None else {"q.bits": 4}, name=name,
              output_types=[out_type] if out_type else None)
    g.set_outputs([y.output if out_name == "y" else a])
    return g


def test_equal_graphs():
    assert graphs_equal(build(), build())
    assert graph_diff(build(), build()) is None


@pytest.mark.parametrize("other, expected", [
    (build(graph_name="h"), "graph names differ: @g vs @h"),
    (build(op="mul"), "node 0 ('add' (%y) vs 'mul' (%y)): ops differ"),
    (build(swap=True), "operands differ: (%a@('input', 0), %b@('input', 1)) vs (%b@('input', 1), %a@('input', 0))"),
    (build(attrs={"q.bits": 8}), "attribute 'q.bits' differs: 4 vs 8"),
    (build(attrs={}), "attribute 'q.bits' is only on the first node"),
    (build(name="z"), "result 0: names differ: %y vs %z"),
    (build(out_type=QuantType("i8", "f32", (2,), scale=0.5, zero_point=0)), "%y has type f32[2] vs q<i8:f32, scale=0.5, zp=0>[2]"),
    (build(out_name="a"), "graph outputs differ: (%y@('node', 0, 0)) vs (%a@('input', 0))"),
])
def test_first_difference_is_named(other, expected):
    diff = graph_diff(build(), other)
    assert diff is not None and expected in diff
    assert not graphs_equal(build(), other)


def test_dense_attributes_compare_by_content():
    a = build(attrs={"q.w": Dense(np.arange(3, dtype=np.int32))})
    assert graphs_equal(a, build(attrs={"q.w": Dense(np.arange(3, dtype=np.int32))}))
    assert "differs" in graph_diff(a, build(attrs={"q.w": Dense(np.arange(3, dtype=np.int64))}))
    assert "differs" in graph_diff(a, build(attrs={"q.w": Dense(np.array([0, 1, 5], np.int32))}))


@pytest.mark.parametrize("x, y, equal", [
    ([1, 2], (1, 2), True), (np.int64(3), 3, True), (np.float32(0.5), 0.5, True), (math.nan, math.nan, True),
    (True, 1, False), (1, 1.0, False), ([1.0, math.nan], [1.0, math.nan], True), ({"a": [1]}, {"a": (1,)}, True),
    ({"a": 1}, {"b": 1}, False), ([1], [1, 2], False), ("1", 1, False), (None, None, True),
    (np.array([1.0, np.nan]), Dense(np.array([1.0, np.nan])), True),
])
def test_attribute_value_equality(x, y, equal):
    assert attr_values_equal(x, y) is equal
