"""Every tests/**/*.qir file is a FileCheck-style test (format: qcompiler/testing/filecheck.py).

Torch runs on one thread in tests: CI has two cores and the tests' models are small,
so more threads only oversubscribe the machine (and Numba's pool next to torch's).

Hypothesis: the "ci" profile (HYPOTHESIS_PROFILE=ci, set by .ci/run) draws the same
examples on every run, so CI is reproducible; the default profile draws new ones each
run, so local runs keep exploring the properties."""
import os

import torch
from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

from qcompiler.testing.pytest_qir import pytest_collect_file  # noqa: F401

torch.set_num_threads(1)
