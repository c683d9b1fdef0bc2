"""Every tests/**/*.qir file is a FileCheck-style test (format: qcompiler/testing/filecheck.py)."""
from qcompiler.testing.pytest_qir import pytest_collect_file  # noqa: F401
