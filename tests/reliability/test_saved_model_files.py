"""Saved models: a save or export cut short leaves the previous files, a directory mixing
old and new files never loads, a save never mixes into someone's directory, and every
damaged or hand-edited file is a CompiledModelFileError naming it."""
import errno
import hashlib
import json
import os

import numpy as np
import onnx
import pytest

import qcompiler
from qcompiler.model import saving
from qcompiler.cli import main
from qcompiler.ir.errors import QIRError
from qcompiler.model.saving import CompiledModelFileError


def rehash(directory) -> None:
    """Recompute meta.json's checksums, as if the damaged files had been saved so: what
    load then says is about their content, not their checksum."""
    meta = json.loads((directory / "meta.json").read_text())
    meta["sha256"] = {name: hashlib.sha256((directory / name).read_bytes()).hexdigest() for name in meta["sha256"]}
    (directory / "meta.json").write_text(json.dumps(meta))


def leftovers(folder) -> list:
    return sorted(p.name for p in folder.rglob("*partial*"))


@pytest.fixture
def saved(compiled, tmp_path):
    compiled.save(tmp_path / "m.qc")
    return tmp_path / "m.qc"


@pytest.mark.parametrize("damage, message", [
    (lambda d: (d / "samples.npz").write_bytes(b"PK\x03\x04 cut"), r"samples.npz: not a file of plain numeric arrays"),
    (lambda d: np.savez(d / "samples.npz", **{"0": np.array([None], dtype=object)}), "Object arrays cannot be loaded"),
    (lambda d: np.savez(d / "samples.npz", x=np.zeros(3)), r"samples.npz: expected arrays named 0..0, found x"),
    (lambda d: (d / "model.npz").write_bytes(b"PK\x03\x04 cut"), r"cannot read the blobs in .*model.npz"),
])
def test_damaged_files_with_matching_checksums_are_named(saved, damage, message):
    damage(saved)
    with pytest.raises(CompiledModelFileError, match="checksum mismatch"):
        qcompiler.load(saved)
    rehash(saved)
    with pytest.raises(QIRError, match=message):
        qcompiler.load(saved)


@pytest.mark.parametrize("write, message", [
    (lambda meta: json.dumps(meta).encode("utf-16"), "meta.json: not UTF-8 text"),
    (lambda meta: json.dumps({**meta, "pipeline": 42}).encode(), "meta.json: pipeline is 42, expected a string"),
    (lambda meta: json.dumps({k: v for k, v in meta.items() if k != "sha256"}).encode(), "no checksums"),
])
def test_a_bad_meta_json_is_named(saved, write, message):
    meta = json.loads((saved / "meta.json").read_text())
    (saved / "meta.json").write_bytes(write(meta))
    with pytest.raises(CompiledModelFileError, match=message):
        qcompiler.load(saved)


def test_a_save_cut_short_leaves_the_previous_model(compiled, saved, monkeypatch):
    x = compiled.sample_inputs[0]
    before = qcompiler.load(saved)(x)
    meta_before = (saved / "meta.json").read_bytes()

    def disk_full(path, **arrays):
        open(path, "wb").write(b"PK\x03\x04")  # a few bytes, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(saving.np, "savez", disk_full)
    with pytest.raises(OSError, match="No space left"):
        compiled.save(saved)
    assert (saved / "meta.json").read_bytes() == meta_before
    np.testing.assert_array_equal(qcompiler.load(saved)(x), before)
    assert leftovers(saved.parent) == []


def test_a_save_cut_short_while_swapping_files_never_loads_and_can_be_redone(compiled, saved, monkeypatch):
    replace, calls = os.replace, []

    def crash_after_one(src, dst):
        calls.append(dst)
        if len(calls) > 1:
            raise OSError(errno.EIO, "Input/output error")
        replace(src, dst)

    monkeypatch.setattr("qcompiler.atomic_write.os.replace", crash_after_one)
    with pytest.raises(OSError, match="Input/output error"):
        compiled.save(saved)
    with pytest.raises(CompiledModelFileError, match="no meta.json"):  # one new file, old others: not a model
        qcompiler.load(saved)
    monkeypatch.setattr("qcompiler.atomic_write.os.replace", replace)
    compiled.save(saved)
    assert qcompiler.load(saved).graph.name == compiled.graph.name


def test_a_model_file_from_another_save_does_not_load(compiled, saved, tmp_path):
    other = tmp_path / "other.qc"
    compiled.save(other)
    (other / "model.qir").write_text((other / "model.qir").read_text().replace("@DigitsCNN", "@Other"))
    rehash(other)
    (saved / "model.qir").write_bytes((other / "model.qir").read_bytes())  # new model.qir, old meta.json
    with pytest.raises(CompiledModelFileError, match=r"model.qir: differs from the file saved with this meta.json"):
        qcompiler.load(saved)
    assert qcompiler.load(other).graph.name == "Other"


def test_saving_over_a_model_replaces_it_and_refuses_other_directories(compiled, saved, tmp_path, monkeypatch):
    compiled.save(saved)  # over itself: fine
    assert qcompiler.load(saved).graph.name == compiled.graph.name and leftovers(tmp_path) == []
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"meow")
    with pytest.raises(CompiledModelFileError, match=r"photos: holds files a compiled model does not \(cat.jpg\)"):
        compiled.save(tmp_path / "photos")
    assert sorted(p.name for p in (tmp_path / "photos").iterdir()) == ["cat.jpg"]
    (tmp_path / "empty").mkdir()
    monkeypatch.chdir(tmp_path / "empty")
    compiled.save(".")  # the working directory: filled in place, as it cannot be renamed
    assert qcompiler.load(".").graph.name == compiled.graph.name and leftovers(tmp_path) == []


def test_an_export_cut_short_leaves_the_previous_file(compiled, tmp_path, monkeypatch):
    path = tmp_path / "m.onnx"
    compiled.export_onnx(path)
    before = path.read_bytes()
    assert onnx.load(path).graph.node

    def disk_full(proto, partial, **options):
        open(partial, "wb").write(before[:10])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("onnx.save", disk_full)
    with pytest.raises(OSError, match="No space left"):
        compiled.export_onnx(path, form="qdq")
    assert path.read_bytes() == before and leftovers(tmp_path) == []


def test_opt_output_cut_short_leaves_the_previous_qir_and_npz(model_files, tmp_path, monkeypatch, capsys):
    out = tmp_path / "m.qir"
    assert main(["opt", str(model_files / "digits.qir"), "-p", "canonicalize", "-o", str(out)]) == 0
    before = out.read_bytes(), out.with_suffix(".npz").read_bytes()

    def disk_full(path, **arrays):
        open(path, "wb").write(b"PK\x03\x04")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("qcompiler.ir.serialize.np.savez", disk_full)
    assert main(["opt", str(model_files / "digits.qir"), "-p", "canonicalize,dce", "-o", str(out)]) == 1
    assert "No space left on device" in capsys.readouterr().err
    assert (out.read_bytes(), out.with_suffix(".npz").read_bytes()) == before and leftovers(tmp_path) == []
