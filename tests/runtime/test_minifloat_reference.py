"""The reference interpreter rounds every minifloat value to its format and scale."""
import numpy as np
import pytest

from qcompiler.ir import Graph, MinifloatType
from qcompiler.runtime.reference import ExecutionError, run_graph


def test_inputs_constants_and_results_are_rounded_to_the_format():
    g = Graph("mf")
    x = g.add_input("x", MinifloatType("e4m3", "f32", (3,), no_nan_inf=True))
    w = g.constant(np.float32([0.1234567, 1000.0, -3.3]), name="w",
                   type=MinifloatType("e4m3", "f32", (3,), no_nan_inf=True, axis=0, scale=np.float32([1.0, 1.0, 0.5])))
    s = g.add("add", [x, w], name="s", output_types=[MinifloatType("e2m1", "f32", (3,), finite=True, scale=2.0)]).output
    g.set_outputs([x, w, s])
    got_x, got_w, got_s = run_graph(g, [np.float32([0.1234567, 17.0, -500.0])])
    assert got_x.tolist() == [0.125, 16.0, -448.0]        # RNE at 17 (tie 16 | 18 -> even 16), saturation at 448
    assert got_w.tolist() == [0.125, 448.0, -3.25]       # per channel: -3.3 / 0.5 = -6.6 -> -6.5
    assert got_s.tolist() == [0.0, 12.0, -12.0]          # e2m1 x 2: {0, 1, 2, 3, 4, 6, 8, 12}; 0.25 -> 0 (tie to even)


@pytest.mark.filterwarnings("ignore:invalid value encountered in log")
def test_a_value_the_format_cannot_hold_names_the_node():
    g = Graph("mf")
    x = g.add_input("x", MinifloatType("e4m3", "f32", (1,), no_nan_inf=True))
    g.set_outputs([g.add("log", [x], name="lg", output_types=[MinifloatType("e2m1", "f32", (1,), finite=True)]).output])
    with pytest.raises(ExecutionError, match="node .*lg.* cannot represent NaN"):
        run_graph(g, [np.float32([-1.0])])
