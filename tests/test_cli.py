"""The `qcompiler` command: demo, compile, opt and inspect, their help, and one clear
error line (exit code 1) for each kind of bad input."""
from pathlib import Path

import numpy as np
import pytest
import rapidocr_onnxruntime

import qcompiler
from qcompiler.cli import main
from qcompiler.cli.model_args import parse_dynamic_dims
from qcompiler.ir.serialize import save_qir
from qcompiler.model.loading import load_model

from digits_fixtures import digits, digits_model  # noqa: F401 (fixtures)

CLS_MODEL = Path(rapidocr_onnxruntime.__file__).parent / "models" / "ch_ppocr_mobile_v2.0_cls_infer.onnx"
FLOAT_PIPELINE = "canonicalize,fold-bn,fuse-activations,dce"


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def files(tmp_path_factory, digits_model, digits):
    """The digits CNN as a .qir file with a dynamic batch, and calibration arrays."""
    root = tmp_path_factory.mktemp("cli")
    save_qir(load_model(digits_model, digits[2][:1], dynamic_batch=True), root / "digits.qir")
    x = digits[0].numpy()[:128]
    np.save(root / "train.npy", x)
    np.savez(root / "train.npz", x=x)
    np.save(root / "flat.npy", x.reshape(len(x), -1))
    np.save(root / "nan.npy", np.where(np.arange(x.size).reshape(x.shape) == 64 * 40 + 5, np.nan, x))
    np.save(root / "words.npy", np.array(["not", "numbers"]))
    return root


@pytest.mark.parametrize("command", [None, "compile", "demo", "opt", "inspect"])
def test_help(capsys, command):
    with pytest.raises(SystemExit) as exit_:
        main(([command] if command else []) + ["--help"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: qcompiler {command or ''}".rstrip())


def test_demo_prints_the_report_and_both_accuracies(capsys):
    code, out, _ = run(capsys, "demo")
    assert code == 0
    assert "qcompiler report: @DigitsCNN for armv8" in out and "features_5 (features.3)  qconv2d" in out
    rows = {line.rsplit(None, 1)[0].strip(): float(line.rsplit(None, 1)[1].rstrip("%"))
            for line in out.split("test accuracy on 359 held-out digits:\n")[1].splitlines()}
    assert list(rows) == ["fp32 torch", "int8 Numba backend", "int8 ONNX Runtime (qoperator form)"]
    assert all(acc > 95.0 for acc in rows.values())
    assert rows["int8 Numba backend"] >= rows["fp32 torch"] - 0.5


def test_compile_a_torch_factory_saves_exports_and_reports(capsys, files, digits):
    out_dir, onnx_path = files / "compiled", files / "digits.onnx"
    code, out, err = run(capsys, "compile", "qcompiler.cli.demo:load_demo_model", "--target", "armv8",
                         "--calib", files / "train.npy", "-o", out_dir, "--export-onnx", onnx_path)
    assert code == 0, err
    assert "qcompiler report: @DigitsCNN for armv8" in out and f"wrote {out_dir}" in err and onnx_path.is_file()
    cm = qcompiler.load(out_dir)
    assert cm.target.name == "armv8" and cm(digits[2][:4].numpy()).shape == (4, 10)


def test_dynamic_dim_flags_make_a_torch_input_dim_symbolic(capsys):
    code, out, err = run(capsys, "inspect", "qcompiler.cli.demo:load_demo_model", "--input-shape", "2,1,8,8",
                         "--dynamic-dim", "x:0=B")
    assert code == 0, err
    assert "input  %x: f32[B,1,8,8]" in out


def test_dynamic_dim_flags_parse_by_name_and_position():
    assert parse_dynamic_dims(None) is None
    assert parse_dynamic_dims(["x:3=W", "x:0=N", "1:2=H"]) == {"x": {3: "W", 0: "N"}, 1: {2: "H"}}
    assert parse_dynamic_dims(["gpu_0/data_0:3=W"]) == {"gpu_0/data_0": {3: "W"}}


def test_compile_a_qir_file_with_npz_data_custom_pipeline_and_dumps(capsys, files):
    code, out, err = run(capsys, "compile", files / "digits.qir", "--calib", files / "train.npz", "-o", files / "c2",
                         "-p", "fold-bn,calibrate{method=minmax},quantize,lower", "--dump-ir", files / "dumps",
                         "--report", files / "report.html")
    assert code == 0, err
    assert "(fold-bn,calibrate{method=minmax},quantize,lower)" in out and "minmax" in out
    assert len(list((files / "dumps").glob("*.qir"))) == 5
    page = (files / "report.html").read_text(encoding="utf-8")
    assert page.count('<tr class="pass"') == 4 and page.count('class="ir-diff"') == 4


@pytest.mark.parametrize("model", ["onnx", "qir"])
def test_opt_with_dumps_and_timings_then_inspect(capsys, tmp_path, model):
    source = CLS_MODEL
    if model == "qir":
        source = tmp_path / "cls.qir"
        assert run(capsys, "opt", CLS_MODEL, "-p", "canonicalize", "-o", source)[0] == 0
    code, out, err = run(capsys, "opt", source, "-p", FLOAT_PIPELINE, "--dump-ir", tmp_path / "dump", "--time-passes")
    assert code == 0, err
    assert out.startswith("graph @") and "= batch_norm(" not in out
    assert sorted(p.name for p in (tmp_path / "dump").glob("*.qir")) == [
        "000_input.qir", "001_canonicalize.qir", "002_fold-bn.qir", "003_fuse-activations.qir", "004_dce.qir"]
    assert "fold-bn" in err and "total" in err
    code, out, err = run(capsys, "inspect", source)
    assert code == 0, err
    assert "conv2d" in out and "opaque ops (run through onnxruntime): none" in out


@pytest.mark.parametrize("argv, message", [
    (["compile", "{qir}", "--calib", "{dir}/train.npy", "-o", "{dir}/o", "-p", "fold-bn,quantise"],
     "unknown pass 'quantise'"),
    (["opt", "{qir}", "-p", "fold-bn,calibrate{methd=mse}"], "pass 'calibrate' has no option 'methd'"),
    (["compile", "{qir}", "--target", "armv9", "--calib", "{dir}/train.npy", "-o", "{dir}/o"],
     "unknown target 'armv9' (did you mean 'armv8'?); valid targets: armv7, armv8"),
    (["compile", "{dir}/missing.onnx", "--calib", "{dir}/train.npy", "-o", "{dir}/o"], "missing.onnx: no such file"),
    (["inspect", "{dir}/missing.qir"], "missing.qir: no such file"),
    (["compile", "{qir}", "--calib", "{dir}/missing.npy", "-o", "{dir}/o"], "missing.npy: no such file"),
    (["compile", "{qir}", "-o", "{dir}/o"], "the pipeline calibrates: give calibration samples with --calib"),
    (["compile", "{qir}", "--calib", "{dir}/train.npy", "-o", "{dir}/train.npz"],
     "train.npz: exists and is not a directory"),
    (["compile", "{qir}", "--calib", "{dir}/flat.npy", "-o", "{dir}/o"],
     "calibration data for input %x (batch 0) has shape [32, 64], expected ['N', 1, 8, 8]"),
    (["compile", "{qir}", "--calib", "{dir}/nan.npy", "-o", "{dir}/o"], "(batch 1) contains NaN"),
    (["compile", "{qir}", "--calib", "{dir}/words.npy", "-o", "{dir}/o"], "has dtype <U7; samples must be numbers"),
    (["inspect", "{qir}", "--dynamic-dim", "x=W"], "--dynamic-dim 'x=W': expected INPUT:AXIS=SYMBOL"),
    (["inspect", "{qir}", "--dynamic-dim", "x:w=W"], "the axis 'w' is not an integer"),
    (["inspect", "{qir}", "--dynamic-dim", "x:0=B"], "an IR graph declares its dims itself"),
])
def test_bad_input_is_one_error_line(capsys, files, argv, message):
    argv = [a.replace("{dir}", str(files)).replace("{qir}", str(files / "digits.qir")) for a in argv]
    code, out, err = run(capsys, *argv)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"qcompiler {argv[0]}: error: ") and message in err, err
