"""`qcompiler compile --export-onnx PATH --export-opset N`: the export is written at opset N;
the option without an export, or an opset the exporter does not write, is refused before
compiling."""
import onnx
import pytest

from digits_fixtures import (cli_files, compile_with_cli,  # noqa: F401 (fixtures)
                             digits, digits_model)


def test_the_export_is_written_at_the_requested_opset(cli_files, capsys):
    path = cli_files / "m.onnx"
    assert compile_with_cli(cli_files, "-o", str(cli_files / "out"), "--export-onnx", str(path),
                            "--export-opset", "17") == 0
    assert {o.domain: o.version for o in onnx.load(path).opset_import}[""] == 17


@pytest.mark.parametrize("extra, message", [
    (["--export-opset", "17"], "--export-opset is given without --export-onnx"),
    (["--export-onnx", "{dir}/bad.onnx", "--export-opset", "9"], "--export-opset 9: the exporter writes opsets 11 to"),
])
def test_a_bad_export_opset_is_refused_before_compiling(cli_files, capsys, extra, message):
    extra = [a.replace("{dir}", str(cli_files)) for a in extra]
    code = compile_with_cli(cli_files, "-o", str(cli_files / "refused"), *extra)
    err = capsys.readouterr().err
    assert code == 1 and message in err and err.count("\n") == 1, err
    assert not (cli_files / "refused").exists() and not (cli_files / "bad.onnx").exists()
