"""`qcompiler.compile(model, calibration="synthetic")` on the digits CNN: calibrate and
bias-correct read the same synthetic samples, and accuracy stays near the float model's.
A model without BatchNorm is refused before any pass runs."""
import numpy as np
import pytest
import torch
from torch import nn

import qcompiler
from qcompiler.cli.demo import load_demo_model
from qcompiler.passes.datafree import DataFreeError

PIPELINE = ("fold-constants,canonicalize,fold-bn,fuse-activations,dce,"
            "calibrate{method=mse,data=synthetic,samples=16},quantize,bias-correct{samples=16},lower")


def _accuracy(predict, x, y) -> float:
    return float((np.asarray(predict(x)).argmax(1) == y).mean())


@pytest.mark.parametrize("calibration", ["synthetic", None])
def test_compile_with_synthetic_calibration_keeps_accuracy(digits_split, calibration):
    x_train, _, x_test, y_test = digits_split
    model = load_demo_model()
    # calibration=None: the pipeline's calibrate{data=synthetic} alone asks for synthetic data;
    # bias-correct would refuse to run without data, so it read the same synthetic samples
    cm = qcompiler.compile(model, example_inputs=x_train[:1], calibration=calibration, pipeline=PIPELINE,
                           progress=False)
    with torch.no_grad():
        float_accuracy = _accuracy(lambda x: model(torch.from_numpy(x)).numpy(), x_test.numpy(), y_test.numpy())
    assert _accuracy(cm, x_test.numpy(), y_test.numpy()) >= float_accuracy - 0.015


def test_a_model_without_batch_norm_is_refused():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(144, 10)).eval()
    with pytest.raises(DataFreeError, match="no BatchNorm statistics to match"):
        qcompiler.compile(model, example_inputs=torch.zeros(1, 1, 8, 8), calibration="synthetic", progress=False)


def test_an_unknown_named_calibration_source_is_refused():
    with pytest.raises(DataFreeError, match="only named source is 'synthetic'"):
        qcompiler.compile(load_demo_model(), example_inputs=torch.zeros(1, 1, 8, 8), calibration="synthetc")
