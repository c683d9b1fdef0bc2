"""Test support: the FileCheck-style `.qir` harness and its pytest plugin."""
from .filecheck import CheckFailure, FileCheckError, filecheck, parse_test
from .qir_test import run_qir_file, run_qir_test

__all__ = ["CheckFailure", "FileCheckError", "filecheck", "parse_test", "run_qir_file", "run_qir_test"]
