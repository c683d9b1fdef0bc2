"""Graph pictures: every node of the networkx view carries a label and a kind."""
import numpy as np

from qcompiler.ir import Graph, TensorType
from qcompiler.ir.graphviz import to_dot, to_networkx


def test_a_constant_graph_output_is_drawn_as_its_producer():
    g = Graph("g")
    x = g.add_input("x", TensorType("f32", (3,)))
    c = g.constant(np.ones(3, np.float32), name="c")
    g.set_outputs([g.add("relu", [x], name="r").output, c])
    view = to_networkx(g)
    assert all({"label", "kind"} <= set(data) for _, data in view.nodes(data=True))
    dot = to_dot(g)
    assert 'label="const"' in dot and 'label="return %c"' in dot
