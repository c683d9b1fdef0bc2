"""A NaN or Inf weight is reported as itself (name and origin), before any activation
it would poison is computed."""
import numpy as np
import pytest
import torch

import qcompiler
from qcompiler.passmanager import PassError


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weight_is_named(bad):
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(144, 3))
    with torch.no_grad():
        model[3].weight[1, 2] = bad
    x = np.random.default_rng(0).random((8, 1, 8, 8), dtype=np.float32)
    with pytest.raises(PassError, match=r"pass 'calibrate' failed.*weight %3\.weight \(3\.weight\) of 'linear'.*contains "
                                        + ("NaN" if np.isnan(bad) else "Inf")):
        qcompiler.compile(model, "armv8", calibration=x, progress=False)


def test_a_single_number_as_calibration_data_is_named():
    from qcompiler.passes.calibration import CalibrationError

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    with pytest.raises(CalibrationError, match="is a single number; expected samples stacked along dim 0"):
        qcompiler.compile(model, "armv8", example_inputs=torch.zeros(1, 4), calibration=np.array(1.0, np.float32), progress=False)
