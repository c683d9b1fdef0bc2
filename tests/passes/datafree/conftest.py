"""The bundled digits CNN (two conv-BN-ReLU) as an imported float graph, shared by the
data-free tests."""
import pytest

from qcompiler.cli.demo import load_demo_model
from qcompiler.model.loading import load_model
from qcompiler.testing.zoo import digits_data


@pytest.fixture(scope="session")
def digits_split():
    return digits_data()


@pytest.fixture(scope="session")
def digits_graph(digits_split):
    """The demo CNN before fold-bn, batch dim symbolic."""
    return load_model(load_demo_model(), digits_split[0][:1], dynamic_batch=True)
