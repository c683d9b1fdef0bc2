"""A residual (2 x int4) conv and linear after `lower`: one group-wise product per layer
(each term's int32 partial sum on its own multiplier, one int64 sum, one requantization),
the reference interpreter, the Numba backend and the integer ONNX export in onnxruntime
give the same integers (and the same float logits dequantized from them)."""
import numpy as np
import onnxruntime as ort
import pytest

from qcompiler.backends.numba import NumbaExecutor
from qcompiler.backends.onnx import to_onnx
from qcompiler.ir.clone import clone
from qcompiler.ir.core import Graph
from qcompiler.ir.dense import Dense
from qcompiler.ir.types import f32
from qcompiler.numerics.sqnr import sqnr_db
from qcompiler.passmanager import run_pipeline
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


@pytest.fixture(scope="module")
def grouped_lowered():
    """x[N,4,6,6] -> depthwise conv (groups=4) -> relu -> conv (groups=2), both residual."""
    rng = np.random.default_rng(4)
    g = Graph("grouped")
    x = g.add_input("x", f32("N", 4, 6, 6))
    dw = g.constant(rng.normal(size=(4, 1, 3, 3)).astype(np.float32), name="dw")
    d = g.add("conv2d", [x, dw], {"pad": [1, 1, 1, 1], "groups": 4}, name="d").output
    r = g.add("relu", [d], name="r").output
    gw = g.constant(rng.normal(size=(6, 2, 3, 3)).astype(np.float32), name="gw")
    g.set_outputs([g.add("conv2d", [r, gw], {"groups": 2}, name="y").output])
    float_graph = clone(g)
    graph, _ = quantized(g, "calibrate,quantize{weights=i4},quantize-residual{threshold=100}")
    return float_graph, graph


def test_grouped_convs_read_each_group_terms_times(grouped_lowered):
    float_graph, graph = grouped_lowered
    x = data_for(graph, n=8, seed=6)
    d = graph.find("d").producer
    assert d.attrs["q.residual_terms"] == 2 and d.inputs[0].producer.op == "gather"
    assert d.inputs[1].type.shape == (4, 2, 3, 3) and d.inputs[1].type.group == 1
    assert list(Graph.const_value(graph.find("y").producer.inputs[0].producer.inputs[1])) == [0, 1, 0, 1, 2, 3, 2, 3]
    # the fake-quant graph computes the grouped layers with both terms: close to float
    assert sqnr_db(run_graph(float_graph, [x])[0], run_graph(graph, [x])[0]) > 25


def test_grouped_residual_layers_agree_in_reference_numba_and_onnxruntime(grouped_lowered):
    graph = clone(grouped_lowered[1])
    run_pipeline(graph, "lower")
    x = data_for(graph, n=8, seed=7)
    numba = NumbaExecutor(graph)([x])[0]
    assert np.array_equal(run_graph(graph, [x])[0], numba)
    session = ort.InferenceSession(to_onnx(graph, "integer").SerializeToString(), providers=["CPUExecutionProvider"])
    assert np.array_equal(session.run(None, {session.get_inputs()[0].name: x})[0], numba)
