"""Every file qcompiler writes goes through atomic_write: a writer failing half-way (a
full disk, simulated by a writer that writes a few bytes and raises) leaves the previous
file byte for byte, and no temporary behind. Covered here: save_qir (.qir + .npz),
ONNX export (one file, or with its tensors in a .data file, automatic past protobuf's
limit, where the checker reads the model from files), DOT and SVG pictures.
Compiled-model saves and the CLI's -o are in test_saved_model_files.py."""
import errno
import importlib

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from qcompiler.backends.onnx import to_onnx
from qcompiler.backends.onnx.export import export, write_model
from qcompiler.cli import main
from qcompiler.ir.graphviz import save_svg
from qcompiler.ir.serialize import load_qir, save_qir
from qcompiler.runtime.reference import run_graph

from test_saved_model_files import leftovers


def disk_full_after(path_index: int):
    """A writer that puts a few bytes into its path argument `path_index`, then fails."""
    def write(*args, **kwargs):
        with open(args[path_index], "wb") as f:
            f.write(b"PK\x03\x04 cut")
        raise OSError(errno.ENOSPC, "No space left on device")

    return write


def snapshot(folder) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture
def graph(model_files):
    return load_qir(model_files / "digits.qir")


@pytest.mark.parametrize("writer, index", [("numpy.savez", 0), ("pathlib.Path.write_text", 0)])
def test_save_qir_cut_short_leaves_the_previous_pair(graph, tmp_path, monkeypatch, writer, index):
    save_qir(graph, tmp_path / "m.qir")
    before = snapshot(tmp_path)
    assert sorted(before) == ["m.npz", "m.qir"]
    graph.name = "changed"
    monkeypatch.setattr(writer, disk_full_after(index))
    with pytest.raises(OSError, match="No space left"):
        save_qir(graph, tmp_path / "m.qir")
    monkeypatch.undo()
    assert snapshot(tmp_path) == before and leftovers(tmp_path) == []
    assert load_qir(tmp_path / "m.qir").name != "changed"


def test_an_export_cut_short_leaves_the_previous_onnx(graph, tmp_path, monkeypatch):
    path = tmp_path / "m.onnx"
    export(graph, path, "float")
    before = snapshot(tmp_path)
    monkeypatch.setattr("onnx.save", disk_full_after(1))
    with pytest.raises(OSError, match="No space left"):
        export(graph, path, "float", opset=17)
    assert snapshot(tmp_path) == before and leftovers(tmp_path) == []


def test_external_data_is_written_beside_the_model_and_replaced_with_it(graph, tmp_path, monkeypatch):
    path = tmp_path / "m.onnx"
    proto = to_onnx(graph, "float")
    write_model(proto, path, external_data=True)
    assert sorted(snapshot(tmp_path)) == ["m.onnx", "m.onnx.data"]
    assert not any(t.external_data for t in proto.graph.initializer)  # the caller's proto keeps its tensors
    assert any(t.external_data for t in onnx.load(path, load_external_data=False).graph.initializer)
    x = np.random.default_rng(0).uniform(0, 1, (2, 1, 8, 8)).astype(np.float32)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, run_graph(graph, [x])[0], rtol=1e-5, atol=1e-5)
    before = snapshot(tmp_path)
    monkeypatch.setattr("onnx.save", disk_full_after(1))
    with pytest.raises(OSError, match="No space left"):
        write_model(to_onnx(graph, "float", opset=17), path, external_data=True)
    assert snapshot(tmp_path) == before and leftovers(tmp_path) == []


def test_a_model_past_the_protobuf_limit_is_checked_and_written_with_external_data(graph, tmp_path, monkeypatch):
    # the limit lowered to a few kilobytes stands in for protobuf's 2 GB
    monkeypatch.setattr(importlib.import_module("qcompiler.backends.onnx.export"), "PROTOBUF_LIMIT", 4096)
    export(graph, tmp_path / "m.onnx", "float")
    assert sorted(snapshot(tmp_path)) == ["m.onnx", "m.onnx.data"] and leftovers(tmp_path) == []
    x = np.random.default_rng(1).uniform(0, 1, (1, 1, 8, 8)).astype(np.float32)
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {session.get_inputs()[0].name: x})[0], run_graph(graph, [x])[0],
                               rtol=1e-5, atol=1e-5)


def test_pictures_cut_short_leave_the_previous_files(graph, model_files, tmp_path, monkeypatch, capsys):
    dot, svg = tmp_path / "g.dot", tmp_path / "g.svg"
    assert main(["inspect", str(model_files / "digits.qir"), "--dot", str(dot), "--svg", str(svg)]) == 0
    before = snapshot(tmp_path)
    monkeypatch.setattr("pathlib.Path.write_text", disk_full_after(0))
    assert main(["inspect", str(model_files / "digits.qir"), "--dot", str(dot)]) == 1
    monkeypatch.setattr("matplotlib.figure.Figure.savefig", disk_full_after(1))
    with pytest.raises(OSError, match="No space left"):
        save_svg(graph, svg)
    assert snapshot(tmp_path) == before and leftovers(tmp_path) == []
    assert "No space left on device" in capsys.readouterr().err
