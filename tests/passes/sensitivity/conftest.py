"""Sensitivity tests run many small torch ops: one thread avoids oversubscribing shared
cores. Registers the pass for the .qir cases, whether or not qcompiler.passes imports it yet."""
import pytest
import torch

import qcompiler.passes.sensitivity  # noqa: F401


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
