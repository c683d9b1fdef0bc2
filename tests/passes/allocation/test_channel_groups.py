"""allocate-bits{granularity=channel-group:G}: groups of output channels take their own
widths, binary included, and the split graph deploys through the existing quantizer,
lowering, Numba backend and ONNX integer export, all equal to the reference."""
import numpy as np
import onnxruntime as ort
import pytest
import torch

import qcompiler.passes  # noqa: F401  (registers the post-training passes)
import qcompiler.passes.allocation  # noqa: F401  (registers allocate-bits)
from qcompiler.backends.numba.executor import NumbaExecutor
from qcompiler.backends.onnx import to_onnx
from qcompiler.frontends.fx import import_module
from qcompiler.ir import verify
from qcompiler.ir.clone import clone
from qcompiler.ir.types import QuantType
from qcompiler.passes.allocation.channel_groups import channel_bounds
from qcompiler.passes.allocation.group_sensitivity import binary_weight, channel_errors, group_scores
from qcompiler.passes.calibration.weight_operands import weight_uses
from qcompiler.passes.sensitivity.layers import quantizable_layers
from qcompiler.passmanager import PassContext, PassManager, PipelineError, run_pipeline
from qcompiler.runtime.reference import run_graph
from qcompiler.testing.zoo import digits_data, train_digits_cnn

# 1-4 bit weights keep every u8 x s8 pair sum far from int16 saturation, so ONNX
# Runtime's integer products are exact on every x86 CPU
ALLOCATE = "allocate-bits{granularity=channel-group:4,choices=[1,2,4],budget.size=40%}"


@pytest.fixture(scope="module")
def data():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    x_train, y_train, x_test, y_test = digits_data()
    yield [(x_train[i:i + 64], y_train[i:i + 64]) for i in range(0, 256, 64)], x_test.numpy(), y_test.numpy()
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def calibrated(data):
    """The digits CNN, folded, calibrated, with hessian q.sens."""
    graph = import_module(train_digits_cnn(epochs=2), torch.from_numpy(data[1][:4]), dynamic_batch=True)
    run_pipeline(graph, "fold-bn,fuse-activations,calibrate{method=mse},sensitivity{metric=hessian,samples=128,tol=0.2}",
                 PassContext(target="generic", calibration=data[0]))
    return graph


def test_the_split_graph_computes_what_the_layer_did(calibrated, data):
    graph = clone(calibrated)
    run_pipeline(graph, ALLOCATE, PassContext(target="generic"))
    verify(graph)
    x = data[1][:32]
    np.testing.assert_allclose(run_graph(graph, [x])[0], run_graph(calibrated, [x])[0], rtol=1e-5, atol=1e-5)
    assert graph.op_counts()["concat"] == 3  # conv 8 -> 2 groups, conv 16 -> 4, linear 10 -> 3


def test_group_sensitivities_share_out_the_layer_score(calibrated):
    layer = quantizable_layers(calibrated)[1]  # conv 16x8x3x3
    bounds = channel_bounds(16, 4)
    scores = group_scores(calibrated, layer, bounds, (1, 2, 4), symmetric=True)
    measured = layer.node.attrs["q.sens"]
    for b in ("2", "4", "8"):
        assert sum(s[b] for s in scores) == pytest.approx(measured[b], rel=1e-9)
    # binary is extrapolated from 2 bits by the weight error: S_1 / S_2 = E_1 / E_2
    use = layer.weights[0]
    ratio = channel_errors(calibrated, use, 1, True).sum() / channel_errors(calibrated, use, 2, True).sum()
    assert sum(s["1"] for s in scores) == pytest.approx(measured["2"] * ratio, rel=1e-9)
    assert len({round(s["2"], 12) for s in scores}) == 4  # the groups differ


def test_binary_weights_are_the_sign_times_the_mean_magnitude_per_channel():
    w = np.array([[1.0, -3.0], [0.5, 0.0]], np.float32)
    np.testing.assert_array_equal(binary_weight(w, 0), [[2.0, -2.0], [0.25, 0.25]])
    np.testing.assert_array_equal(binary_weight(w, None), [[1.125, -1.125], [1.125, 1.125]])


def test_mixed_channel_layers_deploy_in_numba_and_onnx_exactly(calibrated, data):
    graph = clone(calibrated)
    manager = PassManager(f"{ALLOCATE},quantize,lower")
    manager.run(graph, PassContext(target="generic"))
    verify(graph)
    allocated = manager.history[0].stats
    assert allocated["split"] == 3 and allocated["groups"] == 9
    by_layer = {}
    for node in graph.nodes:
        if node.op in ("qconv2d", "qlinear"):
            by_layer.setdefault(node.outputs[0].name.rsplit("_g", 1)[0], []).append(node.inputs[1].type.storage)
    assert len(by_layer) == 3 and any(len(set(s)) > 1 for s in by_layer.values())  # groups of a layer differ
    assert "b1" in {s for storages in by_layer.values() for s in storages}
    assert all(isinstance(n.inputs[1].type, QuantType) for n in graph.nodes if n.op in ("qconv2d", "qlinear"))

    x, y = data[1], data[2]
    reference = run_graph(graph, [x])[0]
    np.testing.assert_array_equal(NumbaExecutor(graph)([x])[0], reference)
    session = ort.InferenceSession(to_onnx(graph, "integer").SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_array_equal(session.run(None, {"x": x})[0], reference)
    assert (reference.argmax(1) == y).mean() > 0.8  # 40% of the 4-bit size still classifies


def test_layers_that_cannot_be_split_stay_whole():
    class Grouped(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.depthwise = torch.nn.Conv2d(8, 8, 3, groups=8)

        def forward(self, x):
            return self.depthwise(x)

    graph = import_module(Grouped().eval(), torch.zeros(1, 8, 5, 5))
    quantizable_layers(graph)[0].node.attrs["q.sens"] = {"2": 1.0, "4": 0.5, "8": 0.0}
    manager = PassManager("allocate-bits{granularity=channel-group:2,choices=[1,2]}")
    manager.run(graph, PassContext())
    assert manager.history[0].stats["split"] == 0 and "concat" not in graph.op_counts()
    assert set(quantizable_layers(graph)[0].node.attrs["q.sens"]) == {"1", "2", "4", "8"}


@pytest.mark.parametrize("granularity", ["channel-group:0", "channel", "channel-group"])
def test_a_bad_granularity_is_named(granularity):
    with pytest.raises(PipelineError, match=f"granularity '{granularity}' is not one of layer, channel-group:G"):
        run_pipeline(import_module(torch.nn.Linear(2, 2), torch.zeros(1, 2)),
                     f"allocate-bits{{granularity={granularity}}}", PassContext())


def test_weight_uses_see_every_group(calibrated):
    graph = clone(calibrated)
    run_pipeline(graph, ALLOCATE, PassContext(target="generic"))
    origins = sorted(use.weight.producer.attrs["origin"] for use in weight_uses(graph))
    assert origins[:2] == ["classifier.weight[0:4]", "classifier.weight[4:8]"] and len(origins) == 9
