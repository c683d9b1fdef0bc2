"""masked_softmax with zero_empty_rows in ONNX: on dequantized (finite) scores the empty
rows come from the mask (a ReduceMax of it, one Mul on the probabilities), not from
Where(IsNaN(p)) over the scores; float scores, which may hold -inf, keep the IsNaN form.
Both equal the reference, an all-false row included."""
import numpy as np
import pytest

from onnx_export_helpers import graph_of, run_onnx
from qcompiler.backends.onnx import to_onnx
from qcompiler.ir.types import QuantType
from qcompiler.runtime.reference import run_graph

SHAPE, KEEP_SHAPE = (2, 3, 4, 5), (2, 1, 4, 5)


def scores_and_mask():
    rng = np.random.default_rng(0)
    scores = (rng.standard_normal(SHAPE) * 3).astype(np.float32)
    keep = rng.random(KEEP_SHAPE) > 0.4
    keep[1, 0, 2] = False  # a query of batch 1 that may attend to nothing
    keep[0, 0, 1] = True
    return scores, keep


def attention(quantized: bool):
    def body(g, s, keep):
        if quantized:
            t = QuantType("u8", "f32", SHAPE, np.float32(12 / 255), np.int32(128))
            s = g.add("dequantize", [g.add("quantize", [s], output_types=[t]).output]).output
        return g.add("masked_softmax", [s, keep], {"fill": -np.inf, "zero_empty_rows": True}).output
    return graph_of(body, *scores_and_mask())


@pytest.mark.parametrize("quantized", [True, False], ids=["dequantized scores", "float scores"])
def test_empty_rows_are_zero_and_equal_the_reference(quantized):
    graph = attention(quantized)
    model = to_onnx(graph, "qoperator" if quantized else "float")
    ops = [n.op_type for n in model.graph.node]
    if quantized:
        assert "IsNaN" not in ops and ops.count("ReduceMax") == 1 and ops[-1] == "Mul", ops
    else:
        assert "IsNaN" in ops and "ReduceMax" not in ops, ops
    feeds = dict(zip(("x0", "x1"), scores_and_mask()))
    (want,) = run_graph(graph, list(feeds.values()))
    got = next(iter(run_onnx(model, feeds).values()))
    assert np.all(want[1, :, 2] == 0) and np.all(got[1, :, 2] == 0)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
