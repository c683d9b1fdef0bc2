"""The README's custom-pass example works as written."""
from pathlib import Path

import numpy as np

from qcompiler.ir import Graph, TensorType
from qcompiler.runtime.reference import run_graph

README = Path(__file__).parents[1] / "README.md"


def _block_after(heading: str) -> str:
    return README.read_text().split(heading, 1)[1].split("```python\n", 1)[1].split("```", 1)[0]


def test_custom_pass_example_runs_and_removes_identities():
    graph = Graph("g")
    x = graph.add_input("x", TensorType("f32", (2, 3)))
    y = graph.add("identity", [graph.add("relu", [x]).output]).output
    graph.set_outputs([graph.add("identity", [y]).output])  # an identity that is an output stays
    scope = {"graph": graph}
    exec(_block_after("### Writing a pass"), scope)
    assert [n.op for n in graph.nodes] == ["relu", "identity"]
    data = np.array([[-1.0, 0.5, 2.0], [3.0, -4.0, 0.0]], np.float32)
    np.testing.assert_array_equal(run_graph(graph, [data])[0], np.maximum(data, 0))
