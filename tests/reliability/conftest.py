"""Shared by the reliability tests: the bundled digits CNN as a .qir file with a dynamic
batch, random calibration samples (what is tested is how bad input is refused, not
accuracy) and the model compiled for armv8, each made once per session."""
import numpy as np
import pytest
import torch

import qcompiler
from qcompiler.cli.demo import load_demo_model
from qcompiler.ir.serialize import save_qir
from qcompiler.model.loading import load_model


@pytest.fixture(scope="session")
def model_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("reliability")
    x = np.random.default_rng(0).uniform(0, 1, (32, 1, 8, 8)).astype(np.float32)
    save_qir(load_model(load_demo_model(), torch.from_numpy(x[:1]), dynamic_batch=True), root / "digits.qir")
    np.save(root / "train.npy", x)
    return root


@pytest.fixture(scope="session")
def compiled(model_files):
    return qcompiler.compile(model_files / "digits.qir", "armv8", calibration=np.load(model_files / "train.npy"),
                             progress=False)
