"""`qcompiler compile --export-onnx PATH --export-opset N`: the export is written at opset N;
the option without an export, or an opset the exporter does not write, is refused before
compiling."""
import numpy as np
import onnx
import pytest

from qcompiler.cli import main
from qcompiler.ir.serialize import save_qir
from qcompiler.model.loading import load_model

from digits_fixtures import digits, digits_model  # noqa: F401 (fixtures)

PIPELINE = "fold-bn,calibrate{method=minmax},quantize,lower"


@pytest.fixture(scope="module")
def files(tmp_path_factory, digits_model, digits):
    root = tmp_path_factory.mktemp("cli_opset")
    save_qir(load_model(digits_model, digits[2][:1], dynamic_batch=True), root / "digits.qir")
    np.save(root / "train.npy", digits[0].numpy()[:32])
    return root


def _compile(files, *extra):
    return main(["compile", str(files / "digits.qir"), "--calib", str(files / "train.npy"), "-p", PIPELINE, *extra])


def test_the_export_is_written_at_the_requested_opset(files, capsys):
    path = files / "m.onnx"
    assert _compile(files, "-o", str(files / "out"), "--export-onnx", str(path), "--export-opset", "17") == 0
    assert {o.domain: o.version for o in onnx.load(path).opset_import}[""] == 17


@pytest.mark.parametrize("extra, message", [
    (["--export-opset", "17"], "--export-opset is given without --export-onnx"),
    (["--export-onnx", "{dir}/bad.onnx", "--export-opset", "9"], "--export-opset 9: the exporter writes opsets 11 to"),
])
def test_a_bad_export_opset_is_refused_before_compiling(files, capsys, extra, message):
    code = _compile(files, "-o", str(files / "refused"), *[a.replace("{dir}", str(files)) for a in extra])
    err = capsys.readouterr().err
    assert code == 1 and message in err and err.count("\n") == 1, err
    assert not (files / "refused").exists() and not (files / "bad.onnx").exists()
