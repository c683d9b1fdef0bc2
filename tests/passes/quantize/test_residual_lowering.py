"""A residual (2 x int4) conv and linear after `lower`: one group-wise product per layer
(each term's int32 partial sum on its own multiplier, one int64 sum, one requantization),
the reference interpreter, the Numba backend and the integer ONNX export in onnxruntime
give the same integers (and the same float logits dequantized from them)."""
import numpy as np
import onnxruntime as ort
import pytest

from qcompiler.backends.numba import NumbaExecutor
from qcompiler.backends.onnx import to_onnx
from qcompiler.ir.dense import Dense
from qcompiler.runtime.reference import run_graph

from quantize_graphs import data_for, quantized, small_cnn


@pytest.fixture(scope="module")
def lowered():
    g = small_cnn(seed=2)
    w = g.find("w").producer
    array = w.attrs["value"].array.copy()
    array[:, 1, 2, 2] = -6.0  # an outlier per channel: one int4 tensor is poor here
    w.attrs["value"] = Dense(array)
    softmax = g.find("s").producer
    g.set_outputs([g.find("y")])  # compare the linear's integers, not a float softmax of them
    g.erase(softmax)
    graph, _ = quantized(g, "calibrate,quantize{weights=i4},quantize-residual{threshold=100},lower")
    return graph


def test_each_residual_layer_is_one_grouped_integer_product(lowered):
    products = [n for n in lowered.nodes if n.op in ("qconv2d", "qlinear")]
    assert [n.attrs.get("q.residual_terms") for n in products] == [2, 2]
    for node in products:
        assert node.inputs[1].type.group is not None and node.inputs[0].producer.op == "concat"
        assert np.asarray(node.attrs["multiplier"].array).shape == node.inputs[1].type.scale.array.shape


def test_reference_numba_and_onnxruntime_agree(lowered):
    x = data_for(lowered, n=16, seed=5)
    reference = run_graph(lowered, [x])[0]
    numba = NumbaExecutor(lowered)([x])[0]
    assert np.array_equal(reference, numba)
    session = ort.InferenceSession(to_onnx(lowered, "integer").SerializeToString(), providers=["CPUExecutionProvider"])
    exported = session.run(None, {session.get_inputs()[0].name: x})[0]
    assert np.array_equal(exported, numba)
    assert len(np.unique(reference.argmax(1))) > 1  # not a constant output
