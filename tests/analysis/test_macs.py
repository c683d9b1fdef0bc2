"""MAC counts from types, checked against counts worked out by hand."""
import numpy as np
import pytest

from qcompiler.analysis import macs
from qcompiler.ir import Graph
from qcompiler.ir.types import f32


def single(op, shapes, attrs=None, const=()):
    g = Graph("m")
    values = [g.constant(np.zeros(s, np.float32)) if i in const else g.add_input(f"x{i}", f32(*s))
              for i, s in enumerate(shapes)]
    return g.add(op, values, attrs or {})


@pytest.mark.parametrize("op, shapes, attrs, expected", [
    # N·Cout·Ho·Wo · Cin/groups·kh·kw
    ("conv2d", [(2, 3, 8, 8), (4, 3, 3, 3)], {"pad": [1, 1, 1, 1]}, 2 * 4 * 8 * 8 * 3 * 9),
    ("conv2d", [(1, 8, 8, 8), (8, 1, 3, 3)], {"groups": 8, "stride": [2, 2]}, 8 * 3 * 3 * 9),  # depthwise
    ("conv1d", [(1, 4, 10), (6, 4, 3)], {}, 6 * 8 * 4 * 3),
    # every input element meets Cout/groups·kh·kw weights
    ("conv_transpose2d", [(1, 4, 5, 5), (4, 6, 3, 3)], {}, 4 * 5 * 5 * 6 * 9),
    ("linear", [(3, 16), (10, 16)], {}, 3 * 10 * 16),
    ("matmul", [(2, 5, 7), (2, 7, 3)], {}, 2 * 5 * 3 * 7),
    ("matmul", [(7,), (7,)], {}, 7),
    ("gemm", [(9, 4), (9, 5)], {"trans_a": True}, 4 * 5 * 9),
    ("relu", [(4, 4)], {}, 0),
])
def test_counts(op, shapes, attrs, expected):
    assert macs(single(op, shapes, attrs, const={1} if len(shapes) > 1 else ())) == expected


def test_dynamic_batch_counts_per_sample():
    g = Graph("m")
    x = g.add_input("x", f32("N", 16))
    node = g.add("linear", [x, g.constant(np.zeros((10, 16), np.float32))])
    assert macs(node) == 10 * 16
