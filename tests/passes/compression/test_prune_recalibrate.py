"""prune{recalibrate=true}: BatchNorm recalibration on the folded graph. Channel pruning
of the BatchNorm digits CNN moves every later layer's statistics away from the ones its
folded normalization assumed; recalibration gives each pruned layer's output channels
back the unpruned mean and spread, which recovers accuracy before any retraining."""
import numpy as np
import pytest
import torch

from compression_graphs import conv_mlp_graph
from qcompiler.frontends.fx import import_module
from qcompiler.ir.dense import Dense
from qcompiler.passes.compression.errors import CompressionError
from qcompiler.passes.compression.recalibrate import channel_statistics
from qcompiler.passmanager import PassContext, PassError, PassManager
from qcompiler.runtime.torch import run_torch
from qcompiler.testing.zoo import digits_data, train_digits_cnn

PREPARE = "fold-constants,canonicalize,fold-bn,fuse-activations,dce"


def prune(recalibrate: bool) -> str:
    return f"prune{{sparsity=0.75,granularity=channel,keep_outputs=true,recalibrate={str(recalibrate).lower()}}}"


@pytest.fixture(scope="module")
def digits():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    x_train, _, x_test, y_test = (a.numpy() for a in digits_data())
    model = train_digits_cnn(epochs=2)
    folded = import_module(model, torch.from_numpy(x_test[:1]), dynamic_batch=True)
    PassManager(PREPARE).run(folded, PassContext())
    graphs = {}
    for recalibrate in (False, True):
        graph = import_module(model, torch.from_numpy(x_test[:1]), dynamic_batch=True)
        manager = PassManager(f"{PREPARE},{prune(recalibrate)}")
        manager.run(graph, PassContext(calibration=x_train[:128]))
        graphs[recalibrate] = (graph, manager.history[-1].stats)
    yield folded, graphs, x_train[:128], x_test, y_test
    torch.set_num_threads(before)


def convs(graph) -> list:
    return [n for n in graph.nodes if n.op == "conv2d"]


def test_recalibration_gives_the_pruned_convs_their_unpruned_channel_statistics(digits):
    folded, graphs, x_cal, _, _ = digits
    graph, stats = graphs[True]
    assert stats["recalibrated"] == [n.outputs[0].name for n in convs(graph)] and len(stats["recalibrated"]) == 2
    before = channel_statistics(folded, convs(folded), x_cal)
    after = channel_statistics(graph, convs(graph), x_cal)
    unrecalibrated = channel_statistics(graphs[False][0], convs(graphs[False][0]), x_cal)
    for (mean0, std0), (mean1, std1), (mean2, std2) in zip(before, after, unrecalibrated):
        np.testing.assert_allclose(mean1, mean0, atol=1e-4)
        np.testing.assert_allclose(std1, np.where(std2 > 1e-8, std0, 0.0), rtol=1e-3, atol=1e-5)
    # the second conv's statistics had moved (its inputs lost 3/4 of their channels)
    assert np.abs(unrecalibrated[1][1] - before[1][1]).max() > 0.3 * before[1][1].max()


def test_recalibration_keeps_the_pruned_zeros(digits):
    for graph, _ in digits[1].values():
        for node in convs(graph):
            w = graph.const_value(node.inputs[1])
            assert np.all(w.reshape(w.shape[0], -1) == 0, axis=1).sum() == round(0.75 * w.shape[0])
    recalibrated = digits[1][True][0]
    assert {n.attrs["q.sparsity"] for n in convs(recalibrated)} == {0.75}


def test_recalibration_recovers_accuracy_before_any_retraining(digits):
    _, graphs, _, x_test, y_test = digits
    top1 = {r: float((run_torch(g, [x_test])[0].argmax(1) == y_test).mean()) for r, (g, _) in graphs.items()}
    # measured: 10.6% -> 47.9% (float; 10.6% -> 46.5% after i8/u8 PTQ)
    assert top1[True] > top1[False] + 0.2, top1


def f32_conv_mlp_graph():
    """conv_mlp_graph with its constants stored as f32, as their types say (the torch executor needs it)."""
    graph = conv_mlp_graph()
    for node in graph.nodes:
        if node.op == "const":
            node.attrs["value"] = Dense(np.asarray(node.attrs["value"].array, np.float32))
    return graph


def test_layers_without_a_bias_are_left_as_pruned_with_a_note():
    graph = f32_conv_mlp_graph()
    ctx = PassContext(calibration=np.random.default_rng(0).standard_normal((16, 3, 8, 8)).astype(np.float32))
    manager = PassManager("prune{sparsity=0.5,granularity=channel,keep_outputs=true,recalibrate=true}")
    manager.run(graph, ctx)
    assert manager.history[-1].stats["recalibrated"] == ["c1", "h"]
    assert {d.node for d in ctx.diagnostics if "not recalibrated" in d.message} == {"c2"}


def test_recalibration_without_calibration_data_is_refused_by_name():
    with pytest.raises(PassError, match="recalibrate=true.*calibration data") as error:
        PassManager("prune{sparsity=0.5,granularity=channel,recalibrate=true}").run(conv_mlp_graph(), PassContext())
    assert isinstance(error.value.__cause__, CompressionError)
