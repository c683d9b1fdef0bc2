"""qat's options and data forms: errors name the option or the data at fault; a
DataLoader and unlabelled calibration data (distillation) both train; schedule=cosine
takes both learning rates along half a cosine from lr to zero over all the run's steps
(LSQ's schedule), constant keeps lr."""
import math

import numpy as np
import pytest
import torch

from qcompiler.ir.core import Graph
from qcompiler.ir.types import f32
from qcompiler.passes.qat import QAT
from qcompiler.passes.qat.errors import QATError
from qcompiler.passmanager import PassContext, PassError, PassManager, PipelineError

QUANTIZE = "calibrate,quantize{weights=i4,acts=u4}"


@pytest.mark.parametrize("pipeline, option", [
    ("qat{method=lsqq}", "method"), ("qat{epochs=0}", "epochs"), ("qat{lr=0}", "lr"),
    ("qat{optimiser=adam}", "optimiser"), ("qat{loss=hinge}", "loss"), ("qat{epochs=two}", "epochs"),
    ("qat{optimizer=rmsprop}", "optimizer"), ("qat{block_layers=0}", "block_layers")])
def test_option_errors_name_the_option(pipeline, option):
    with pytest.raises((PipelineError, QATError), match=option):
        PassManager(pipeline)


def linear_model() -> Graph:
    rng = np.random.default_rng(0)
    g = Graph("classifier")
    x = g.add_input("x", f32("N", 6))
    w = g.constant(rng.normal(size=(3, 6)).astype(np.float32), name="w", origin="fc.weight")
    b = g.constant(np.zeros(3, np.float32), name="b", origin="fc.bias")
    g.set_outputs([g.add("linear", [x, w, b], name="y").output])
    return g


def samples(n=96):
    x = np.random.default_rng(1).normal(size=(n, 6)).astype(np.float32)
    return x, (x[:, :3].argmax(1)).astype(np.int64)


def train(data, calibration):
    graph, manager = linear_model(), PassManager([QUANTIZE, QAT(epochs=2, lr=1e-2, data=data)])
    manager.run(graph, PassContext(calibration=calibration))
    return graph, manager.history[-1].stats


def test_a_dataloader_of_labelled_batches_trains_with_cross_entropy():
    x, y = samples()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)),
                                         batch_size=16)
    graph, stats = train(loader, x)
    assert [e["epoch"] for e in stats["epochs"]] == [1, 2] and "accuracy" in stats["epochs"][0]
    assert graph.find("y").producer.attrs["q.qat"] == "lsq"


def test_without_data_it_distils_the_float_outputs_of_the_calibration_samples():
    x, _ = samples()
    _, stats = train(None, x)
    losses = [e["loss"] for e in stats["epochs"]]
    assert "agreement" in stats["epochs"][0] and losses[1] < losses[0]


@pytest.mark.parametrize("data, message", [("digits.npz", "data of type str"),
                                           ((np.zeros((4, 6), np.float32), np.zeros(3)), "4 samples and 3 labels")])
def test_bad_data_is_named(data, message):
    with pytest.raises(PassError, match=message):
        train(data, samples()[0])


LR, BATCH, EPOCHS = 1e-2, 16, 3


def epoch_lrs(schedule: str, data=None) -> list:
    x, y = samples()
    qat = QAT(epochs=EPOCHS, lr=LR, batch=BATCH, schedule=schedule, data=(x, y) if data is None else data)
    manager = PassManager([QUANTIZE, qat])
    manager.run(linear_model(), PassContext(calibration=x))
    return [e["lr"] for e in manager.history[-1].stats["epochs"]]


def test_cosine_decays_to_zero_over_every_step_of_the_run():
    steps = len(samples()[0]) // BATCH
    total = EPOCHS * steps
    # the lr of each epoch's last step (step index k·steps − 1, counted from 0)
    expected = [LR * 0.5 * (1 + math.cos(math.pi * (k * steps - 1) / total)) for k in range(1, EPOCHS + 1)]
    assert epoch_lrs("cosine") == pytest.approx(expected, rel=1e-6)
    assert expected[-1] < 0.01 * LR


def test_constant_keeps_the_lr():
    assert epoch_lrs("constant") == [LR] * EPOCHS


def test_cosine_without_a_length_is_refused_by_name():
    x, y = samples()
    batches = (pair for pair in [(torch.from_numpy(x[:BATCH]), torch.from_numpy(y[:BATCH]))])
    with pytest.raises(PassError, match="schedule=cosine.*no len"):
        epoch_lrs("cosine", data=batches)


def test_an_unknown_schedule_is_named():
    with pytest.raises(QATError, match="schedule='step'"):
        QAT(schedule="step")
