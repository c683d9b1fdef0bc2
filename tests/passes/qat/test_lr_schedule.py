"""qat{schedule=cosine}: both learning rates follow half a cosine from lr to zero over
all the run's steps (LSQ's schedule); constant keeps lr; a DataLoader without a length
cannot be scheduled and is named."""
import math

import numpy as np
import pytest
import torch

from qcompiler.ir.core import Graph
from qcompiler.ir.types import f32
from qcompiler.passes.qat import QAT
from qcompiler.passes.qat.errors import QATError
from qcompiler.passmanager import PassContext, PassError, PassManager

LR, SAMPLES, BATCH, EPOCHS = 1e-2, 96, 16, 3


def classifier() -> Graph:
    rng = np.random.default_rng(0)
    g = Graph("classifier")
    x = g.add_input("x", f32("N", 6))
    w = g.constant(rng.normal(size=(3, 6)).astype(np.float32), name="w", origin="fc.weight")
    b = g.constant(np.zeros(3, np.float32), name="b", origin="fc.bias")
    g.set_outputs([g.add("linear", [x, w, b], name="y").output])
    return g


def labelled():
    x = np.random.default_rng(1).normal(size=(SAMPLES, 6)).astype(np.float32)
    return x, x[:, :3].argmax(1).astype(np.int64)


def epoch_lrs(schedule: str, data=None) -> list:
    x, y = labelled()
    qat = QAT(epochs=EPOCHS, lr=LR, batch=BATCH, schedule=schedule, data=(x, y) if data is None else data)
    manager = PassManager(["calibrate,quantize{weights=i4,acts=u4}", qat])
    manager.run(classifier(), PassContext(calibration=x))
    return [e["lr"] for e in manager.history[-1].stats["epochs"]]


def test_cosine_decays_to_zero_over_every_step_of_the_run():
    steps = SAMPLES // BATCH
    total = EPOCHS * steps
    # the lr of each epoch's last step (step index k·steps − 1, counted from 0)
    expected = [LR * 0.5 * (1 + math.cos(math.pi * (k * steps - 1) / total)) for k in range(1, EPOCHS + 1)]
    assert epoch_lrs("cosine") == pytest.approx(expected, rel=1e-6)
    assert expected[-1] < 0.01 * LR


def test_constant_keeps_the_lr():
    assert epoch_lrs("constant") == [LR] * EPOCHS


def test_cosine_without_a_length_is_refused_by_name():
    x, y = labelled()
    batches = (pair for pair in [(torch.from_numpy(x[:BATCH]), torch.from_numpy(y[:BATCH]))])
    with pytest.raises(PassError, match="schedule=cosine.*no len"):
        epoch_lrs("cosine", data=batches)


def test_an_unknown_schedule_is_named():
    with pytest.raises(QATError, match="schedule='step'"):
        QAT(schedule="step")
