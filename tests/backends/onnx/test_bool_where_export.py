"""A where on bool values (the frontends' spelling of and / or) exports as And/Or/Not,
which onnxruntime runs (it has no bool Where kernel)."""
import numpy as np

from onnx_export_helpers import graph_of, run_onnx
from qcompiler.backends.onnx import to_onnx
from qcompiler.runtime.reference import run_graph


def test_bool_where_runs_in_onnxruntime_and_equals_the_reference():
    rng = np.random.default_rng(0)
    cond, a, b = (rng.random((3, 5)) > 0.5 for _ in range(3))
    graph = graph_of(lambda g, c, x, y: g.add("where", [c, x, y]).output, cond, a, b)
    model = to_onnx(graph, "float")
    assert "Where" not in {n.op_type for n in model.graph.node}
    (want,) = run_graph(graph, [cond, a, b])
    got = run_onnx(model, {"x0": cond, "x1": a, "x2": b})
    np.testing.assert_array_equal(next(iter(got.values())), want)
    np.testing.assert_array_equal(want, np.where(cond, a, b))
