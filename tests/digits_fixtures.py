"""Fixtures of the API, report and CLI tests: the bundled digits CNN and its data.

Imported by the test modules (`from digits_fixtures import digits, digits_model`)."""
import numpy as np
import pytest
import torch

from qcompiler.cli import main
from qcompiler.cli.demo import load_demo_model
from qcompiler.ir.serialize import save_qir
from qcompiler.model.loading import load_model
from qcompiler.testing.zoo import digits_data

CLI_PIPELINE = "fold-bn,calibrate{method=minmax},quantize,lower"


@pytest.fixture(scope="module")
def digits():
    """(x_train, y_train, x_test, y_test) as torch tensors."""
    torch.set_num_threads(1)
    return digits_data()


@pytest.fixture(scope="module")
def digits_model():
    return load_demo_model()


@pytest.fixture(scope="module")
def cli_files(tmp_path_factory, digits_model, digits):
    """A folder holding the digits CNN as digits.qir (dynamic batch) and 32 training digits
    as train.npy, for `compile_with_cli`."""
    root = tmp_path_factory.mktemp("cli")
    save_qir(load_model(digits_model, digits[2][:1], dynamic_batch=True), root / "digits.qir")
    np.save(root / "train.npy", digits[0].numpy()[:32])
    return root


def compile_with_cli(files, *extra) -> int:
    """`qcompiler compile` of `cli_files`' model with CLI_PIPELINE and `extra` arguments."""
    return main(["compile", str(files / "digits.qir"), "--calib", str(files / "train.npy"), "-p", CLI_PIPELINE,
                 *extra])
