"""pytest plugin: every `*.qir` file under the test directory is a test item run by
`run_qir_file` (format in qcompiler/testing/filecheck.py). tests/conftest.py imports
`pytest_collect_file` from here."""
from __future__ import annotations

import pytest

from ..ir.errors import QIRError
from .filecheck import CheckFailure
from .qir_test import run_qir_file


def pytest_collect_file(parent, file_path):
    if file_path.suffix == ".qir":
        return QirFile.from_parent(parent, path=file_path)
    return None


class QirFile(pytest.File):
    def collect(self):
        yield QirItem.from_parent(self, name=self.path.name)


class QirItem(pytest.Item):
    def runtest(self) -> None:
        run_qir_file(self.path)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, (CheckFailure, QIRError)):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.path, 0, f"qir: {self.path.name}"
