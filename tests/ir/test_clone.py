"""clone(graph): an equal graph that shares no mutable state with the original."""
import numpy as np

from qcompiler.ir import Graph, graph_diff
from qcompiler.ir.clone import clone
from qcompiler.ir.types import f32
from qcompiler.runtime.reference import run_graph


def small_net() -> Graph:
    g = Graph("net")
    x = g.add_input("x", f32("N", 4))
    g.input_attrs["x"] = {"q.range": [-1.0, 1.0]}
    w = g.constant(np.arange(12, dtype=np.float32).reshape(3, 4), name="w", origin="fc.weight")
    y = g.add("linear", [x, w], {"q.range": [0.0, 2.0]}, name="y").output
    z = g.add("relu", [y], name="z").output
    g.set_outputs([z, x])  # an input that is also an output maps too
    g.opset_imports = {"": 17}
    return g


def test_clone_is_equal_and_runs_the_same():
    g = small_net()
    c = clone(g)
    assert graph_diff(g, c) is None
    x = np.linspace(-1, 1, 8, dtype=np.float32).reshape(2, 4)
    for a, b in zip(run_graph(g, [x]), run_graph(c, [x])):
        np.testing.assert_array_equal(a, b)


def test_mutating_the_clone_leaves_the_original_alone():
    g = small_net()
    c = clone(g)
    relu = c.nodes[-1]
    c.nodes[1].attrs["q.range"].append(3.0)
    c.input_attrs["x"]["q.range"][0] = -5.0
    relu.output.replace_all_uses_with(relu.inputs[0])
    c.erase(relu)
    assert len(g.nodes) == 3 and g.outputs[0].name == "z"
    assert g.nodes[1].attrs["q.range"] == [0.0, 2.0] and g.input_attrs["x"]["q.range"] == [-1.0, 1.0]
    assert all(v.producer is None or v.producer.graph is g for v in g.values())
