"""The qoperator export's layout as users choose it: `cm.export_onnx(..., channels_last=)`
and `qcompiler compile --export-onnx PATH --onnx-layout auto|channels-last|channels-first`
give the models `to_onnx(..., channels_last=None|True|False)` gives; the layout with
another form, or without an export, is refused (the CLI: before compiling)."""
import onnx
import pytest

import qcompiler
from qcompiler.backends.onnx import to_onnx
from qcompiler.backends.onnx.errors import OnnxExportError

from digits_fixtures import (CLI_PIPELINE as PIPELINE, cli_files, compile_with_cli,  # noqa: F401 (fixtures)
                             digits, digits_model)


def layout_convs(model: onnx.ModelProto) -> tuple:
    """(channels-last QLinearConvs, channels-first QLinearConvs) of `model`."""
    last = sum(any(a.name == "channels_last" and a.i == 1 for a in n.attribute)
               for n in model.graph.node if n.op_type == "QLinearConv")
    return last, sum(n.op_type == "QLinearConv" for n in model.graph.node) - last


@pytest.fixture(scope="module")
def compiled(digits_model, digits):
    return qcompiler.compile(digits_model, target="x86-vnni", example_inputs=digits[2][:1], calibration=digits[0][:32],
                             pipeline=PIPELINE, progress=False)


@pytest.mark.parametrize("channels_last", [None, True, False])
def test_export_onnx_writes_the_layout_to_onnx_gives(compiled, tmp_path, channels_last):
    path = compiled.export_onnx(tmp_path / "m.onnx", channels_last=channels_last)
    want = layout_convs(to_onnx(compiled.graph, "qoperator", channels_last=channels_last))
    assert layout_convs(onnx.load(path)) == want
    assert want[0 if channels_last else 1] > 0 or channels_last is None


@pytest.mark.parametrize("form, channels_last, message", [
    ("qdq", True, "channels_last=True applies to the qoperator form, not 'qdq'"),
    ("integer", True, "channels_last=True applies to the qoperator form, not 'integer'"),
    ("qoperator", "yes", "channels_last='yes': expected None"),
])
def test_export_onnx_refuses_a_layout_the_form_cannot_take(compiled, tmp_path, form, channels_last, message):
    with pytest.raises(OnnxExportError, match=message):
        compiled.export_onnx(tmp_path / "refused.onnx", form=form, channels_last=channels_last)
    assert not (tmp_path / "refused.onnx").exists()


@pytest.mark.parametrize("layout, channels_last", [("channels-last", True), ("channels-first", False),
                                                   ("auto", None)])
def test_the_cli_writes_the_layout_asked_for(cli_files, capsys, layout, channels_last):
    path = cli_files / f"{layout}.onnx"
    out = cli_files / f"out-{layout}"
    assert compile_with_cli(cli_files, "-o", str(out), "--export-onnx", str(path), "--onnx-layout", layout) == 0
    written = layout_convs(onnx.load(path))
    assert written == layout_convs(to_onnx(qcompiler.load(out).graph, "qoperator", channels_last=channels_last))
    assert written[0 if channels_last else 1] > 0 or channels_last is None


@pytest.mark.parametrize("extra, message", [
    (["--onnx-layout", "channels-first"], "--onnx-layout is given without --export-onnx"),
    (["--export-onnx", "{dir}/bad.onnx", "--onnx-form", "qdq", "--onnx-layout", "channels-last"],
     "--onnx-layout channels-last applies to --onnx-form qoperator, not qdq"),
])
def test_a_layout_without_a_qoperator_export_is_refused_before_compiling(cli_files, capsys, extra, message):
    extra = [a.replace("{dir}", str(cli_files)) for a in extra]
    code = compile_with_cli(cli_files, "-o", str(cli_files / "refused"), *extra)
    err = capsys.readouterr().err
    assert code == 1 and message in err and err.count("\n") == 1, err
    assert not (cli_files / "refused").exists() and not (cli_files / "bad.onnx").exists()
