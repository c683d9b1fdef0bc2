"""The codebook passes register on import (the .qir cases here run them by name).
Training runs on one thread: the machine's cores are shared, and small models gain
nothing from a second one but lose a lot when it waits for a busy core."""
import pytest
import torch

import qcompiler.passes.codebook  # noqa: F401


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
