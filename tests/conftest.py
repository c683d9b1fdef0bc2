"""Every tests/**/*.qir file is a FileCheck-style test (format: qcompiler/testing/filecheck.py).

Torch runs on one thread in tests: CI has two cores and the tests' models are small,
so more threads only oversubscribe the machine (and Numba's pool next to torch's)."""
import torch

from qcompiler.testing.pytest_qir import pytest_collect_file  # noqa: F401

torch.set_num_threads(1)
