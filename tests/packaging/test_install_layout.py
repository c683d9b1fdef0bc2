"""`passes/` and `backends/` install as `qcompiler.passes` / `qcompiler.backends`, in
editable installs and in wheels; nothing installs a top-level `passes` or `backends`."""
import importlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_editable_install_imports_all_three_from_elsewhere(tmp_path):
    code = ("import qcompiler, qcompiler.passes, qcompiler.backends, importlib.util as u;"
            "print(u.find_spec('passes') is None and u.find_spec('backends') is None)")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
    assert importlib.import_module("qcompiler.passes").__file__.startswith(str(ROOT / "passes"))


def test_wheel_contains_mapped_packages(tmp_path):
    env = {**os.environ, "PIP_NO_INDEX": "1"}
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True, env=env)
    wheel = next(tmp_path.glob("qcompiler-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "qcompiler/__init__.py" in names
    assert "qcompiler/passes/__init__.py" in names
    assert "qcompiler/backends/__init__.py" in names
    assert not any(n.startswith(("passes/", "backends/")) for n in names)
    # every subpackage of the source trees is in the wheel
    for folder in ("passes", "backends"):
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.relative_to(ROOT).as_posix()
            assert f"qcompiler/{rel}" in names, rel
