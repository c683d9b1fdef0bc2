"""Embedding tables quantize to int8 with one scale per row, lower to qembedding, and run
equal to the reference in Numba and in onnxruntime (integer and qoperator forms)."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest

from qcompiler.backends.numba import NumbaExecutor
from qcompiler.backends.onnx import to_onnx
from qcompiler.ir.core import Graph
from qcompiler.ir.types import TensorType
from qcompiler.passmanager import PassContext, PassManager
from qcompiler.runtime.reference import run_graph

ROWS, DIM = 50, 8


def embedding_graph(table: np.ndarray) -> Graph:
    g = Graph("lookup")
    ids = g.add_input("ids", TensorType("i64", ("N", 5)))
    g.set_outputs([g.add("embedding", [ids, g.constant(table, origin="tokens")], name="rows").output])
    return g


@pytest.fixture(scope="module")
def lowered():
    rng = np.random.default_rng(0)
    table = (rng.standard_normal((ROWS, DIM)) * rng.uniform(0.01, 10, (ROWS, 1))).astype(np.float32)
    graph = embedding_graph(table)
    ids = rng.integers(0, ROWS, (6, 5))
    PassManager("calibrate{method=minmax},quantize,lower").run(graph, PassContext(calibration=ids))
    return graph, table, ids


def test_table_is_int8_per_row_within_half_a_step(lowered):
    graph, table, _ = lowered
    (node,) = [n for n in graph.nodes if n.op == "qembedding"]
    t = node.inputs[1].type
    assert (t.storage, t.axis) == ("i8", 0) and not np.any(t.zero_point.array)
    scale = t.scale.array
    np.testing.assert_allclose(scale, np.abs(table).max(axis=1) / 127, rtol=1e-6)
    stored = graph.const_value(node.inputs[1])
    assert np.all(np.abs(stored * scale[:, None] - table) <= scale[:, None] / 2 + 1e-7)


def test_lookup_runs_equal_in_reference_numba_and_onnxruntime(lowered):
    graph, table, ids = lowered
    (want,) = run_graph(graph, [ids])
    np.testing.assert_allclose(want, table[ids], atol=np.abs(table).max() / 127)
    ex = NumbaExecutor(graph)
    assert ex.fallback_nodes == []
    np.testing.assert_array_equal(ex([ids])[0], want)
    for form in ("integer", "qoperator"):
        model = to_onnx(graph, form)
        assert [i.data_type for i in model.graph.initializer if i.name == "tokens"] == [onnx.TensorProto.INT8]
        session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        np.testing.assert_array_equal(session.run(None, {"ids": ids})[0], want)


def test_an_index_outside_the_table_is_refused(lowered):
    graph, _, _ = lowered
    bad = np.full((1, 5), -ROWS - 1)
    with pytest.raises(Exception, match="outside the table's 50 rows"):
        run_graph(graph, [bad])
    with pytest.raises(Exception, match="outside the table's 50 rows"):
        NumbaExecutor(graph)([bad])


def test_negative_indices_count_from_the_end_as_in_the_float_lookup(lowered):
    graph, _, _ = lowered
    ids = np.array([[-1, -ROWS, 0, ROWS - 1, 3]])
    (want,) = run_graph(graph, [ids])
    np.testing.assert_array_equal(want[0, 0], want[0, 3])
    np.testing.assert_array_equal(NumbaExecutor(graph)([ids])[0], want)
