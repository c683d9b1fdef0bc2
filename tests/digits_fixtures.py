"""Fixtures of the API, report and CLI tests: the bundled digits CNN and its data.

Imported by the test modules (`from digits_fixtures import digits, digits_model`)."""
import pytest
import torch

from qcompiler.cli.demo import load_demo_model
from qcompiler.testing.zoo import digits_data


@pytest.fixture(scope="module")
def digits():
    """(x_train, y_train, x_test, y_test) as torch tensors."""
    torch.set_num_threads(1)
    return digits_data()


@pytest.fixture(scope="module")
def digits_model():
    return load_demo_model()
