"""Damaged or hostile input files and options: each is one error line naming the file or
option (exit code 1), never a traceback from numpy, zipfile, the parser's recursion,
torch or a user's factory."""
import numpy as np
import pytest

from qcompiler.cli import main
from qcompiler.ir.errors import ParseError
from qcompiler.ir.serialize import load_qir
from qcompiler.model.loading import DataFileError, load_arrays

GRAPH = "graph @g(%x: f32[1]) -> (f32[1]) {{\n  %y = relu(%x){attrs} : f32[1]\n  return %y\n}}\n"


@pytest.fixture(scope="module")
def files(model_files):
    root = model_files
    (root / "latin1.qir").write_bytes(GRAPH.format(attrs=" {q.note=\"caf\xe9\"}").encode("latin-1"))
    (root / "deep.qir").write_text(GRAPH.format(attrs=" {a=" + "[" * 500 + "]" * 500 + "}"))
    (root / "blobs.qir").write_text((root / "digits.qir").read_text())
    (root / "blobs.npz").write_bytes((root / "digits.npz").read_bytes()[:200])  # a zip cut short
    (root / "empty.npy").write_bytes(b"")
    (root / "empty.onnx").write_bytes(b"")
    return root


def run(capsys, argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("argv, message", [
    (["inspect", "{dir}/latin1.qir"], "latin1.qir:2:29: byte 0xe9 is not UTF-8"),
    (["inspect", "{dir}/deep.qir"], "nested too deeply to parse"),
    (["inspect", "{dir}/blobs.qir"], "cannot read the blobs in {dir}/blobs.npz: not a file of plain numeric arrays"),
    (["compile", "{dir}/digits.qir", "--calib", "{dir}/empty.npy", "-o", "{dir}/o"],
     "empty.npy: not a file of plain numeric arrays (the file is empty)"),
    (["inspect", "os:system"], "os:system: calling the factory failed: TypeError: system() missing"),
    (["inspect", "os:sep"], "os:sep: sep is a str, not a factory function"),
    (["inspect", "{dir}/digits.qir", "--input-shape=-1,3,16,16"],
     "--input-shape '-1,3,16,16': expected comma-separated positive integers"),
    (["compile", "{dir}/empty.onnx", "--calib", "{dir}/train.npy", "-o", "{dir}/o"],
     "empty.onnx: the model has no graph outputs (empty or truncated file?)"),
])
def test_a_damaged_file_or_option_is_one_error_line(capsys, files, argv, message):
    argv = [a.replace("{dir}", str(files)) for a in argv]
    code, out, err = run(capsys, argv)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"qcompiler {argv[0]}: error: "), err
    assert message.replace("{dir}", str(files)) in err, err


def test_load_qir_names_the_bad_byte_and_a_graph_with_valid_utf8_still_loads(files):
    with pytest.raises(ParseError, match=r"latin1.qir:2:29: byte 0xe9"):
        load_qir(files / "latin1.qir")
    (files / "utf8.qir").write_text(GRAPH.format(attrs=" {q.note=\"caf\xe9\"}"), encoding="utf-8")
    assert load_qir(files / "utf8.qir").nodes[0].attrs["q.note"] == "caf\xe9"


@pytest.mark.parametrize("name, write, message", [
    ("objects.npz", lambda p: np.savez(p, x=np.array([1, None], dtype=object)), "Object arrays cannot be loaded"),
    ("cut.npz", lambda p: p.write_bytes(b"PK\x03\x04" + b"\0" * 40), "not a file of plain numeric arrays"),
    ("cut.npy", lambda p: p.write_bytes(b"\x93NUMPY\x01\x00"), "not a file of plain numeric arrays"),
])
def test_calibration_files_damaged_anywhere_are_data_file_errors(tmp_path, name, write, message):
    write(tmp_path / name)
    with pytest.raises(DataFileError, match=message):
        load_arrays(tmp_path / name)
