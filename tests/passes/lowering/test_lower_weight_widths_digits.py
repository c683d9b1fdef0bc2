"""The digits CNN with mixed 3-, 5- and 6-bit weights (`q.bits` per layer, widths
without a storage type of their own): lowered as their containers (i4, i8, i8), the
Numba backend, the exact ONNX integer form, the QDQ export and the torch executor all
equal the fake-quant reference interpreter."""
import numpy as np
import onnxruntime as ort
import pytest

import qcompiler
from qcompiler.backends.numba import NumbaExecutor
from qcompiler.backends.onnx import to_onnx
from qcompiler.cli.demo import load_demo_model
from qcompiler.frontends.fx import import_module
from qcompiler.runtime.reference import run_graph
from qcompiler.runtime.torch import run_torch
from qcompiler.testing.zoo import digits_data

PIPELINE = "fold-constants,canonicalize,fold-bn,fuse-activations,dce,calibrate{method=mse},quantize,lower"
WIDTHS = (3, 5, 6)  # conv, conv, linear


def run_ort(model, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


@pytest.fixture(scope="module")
def mixed():
    x, _, x_test, y_test = digits_data()
    graph = import_module(load_demo_model(), x[:4], dynamic_batch=True)
    layers = [n for n in graph.nodes if n.op in ("conv2d", "linear")]
    assert len(layers) == len(WIDTHS)
    for node, bits in zip(layers, WIDTHS):
        node.attrs["q.bits"] = bits
    compiled = qcompiler.compile(graph, "generic", calibration=x[:128].numpy(), pipeline=PIPELINE, progress=False)
    return compiled, x_test.numpy(), y_test.numpy()


def test_each_width_is_stored_on_its_grid_in_its_container(mixed):
    graph = mixed[0].graph
    products = [n for n in graph.nodes if n.op in ("qconv2d", "qlinear")]
    assert [(n.attrs["q.bits"], n.inputs[1].type.storage) for n in products] == [(3, "i4"), (5, "i8"), (6, "i8")]
    for node in products:
        bits, stored = node.attrs["q.bits"], graph.const_value(node.inputs[1])
        assert -2 ** (bits - 1) <= stored.min() and stored.max() <= 2 ** (bits - 1) - 1, node.label()
        assert np.abs(stored).max() >= 2 ** (bits - 1) - 1, node.label()  # the width's grid, not a narrower one


def test_numba_onnx_and_torch_equal_the_fake_quant_reference(mixed):
    compiled, x_test, y_test = mixed
    x = x_test[:64]
    step = compiled.graph.outputs[0].type.scale.array.item()
    reference = run_graph(compiled.fake_quant_graph, [x])[0]
    numba = NumbaExecutor(compiled.graph)([x])[0]
    # measured: every output equal (0 steps); the integer requantization may round one step apart
    assert np.abs(numba - reference).max() <= step + 1e-6
    # weights of at most 6 bits keep u8 x s8 pair sums within int16 on any x86: no VNNI needed for exactness
    np.testing.assert_array_equal(run_ort(to_onnx(compiled.graph, "integer"), x), numba)
    assert np.abs(run_ort(to_onnx(compiled.fake_quant_graph, "qdq"), x) - reference).max() <= step + 1e-6
    torch_out = run_torch(compiled.fake_quant_graph, [x])[0]
    assert np.abs(np.asarray(torch_out) - reference).max() <= step + 1e-6
    # measured 98.05%
    assert (NumbaExecutor(compiled.graph)([x_test])[0].argmax(1) == y_test).mean() > 0.95
