"""`qcompiler compile` checks paths, pipeline options, budgets and data shapes before
compiling, so a mistake costs no time and its error names the option; what is written
agrees with the exit code; reading a shape never allocates a tensor of that shape."""
import resource
from pathlib import Path

import numpy as np
import pytest
import rapidocr_onnxruntime

from qcompiler.cli import main
from qcompiler.model.compiled import CompiledModel
from qcompiler.ir.errors import QIRError

CLS_MODEL = Path(rapidocr_onnxruntime.__file__).parent / "models" / "ch_ppocr_mobile_v2.0_cls_infer.onnx"


def run(capsys, argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def files(model_files):
    (model_files / "photos").mkdir(exist_ok=True)
    (model_files / "photos" / "cat.jpg").write_bytes(b"meow")
    np.save(model_files / "five_channels.npy", np.zeros((4, 5, 16, 16), np.float32))
    return model_files


@pytest.fixture
def no_compile(monkeypatch):
    """Every case must fail before compiling: a compile would be this test's failure."""
    def refuse(*args, **kwargs):
        raise AssertionError("compiled before checking the options")

    monkeypatch.setattr("qcompiler.api.compile", refuse)


COMPILE = ["compile", "{dir}/digits.qir", "--calib", "{dir}/train.npy"]


@pytest.mark.parametrize("argv, message", [
    (COMPILE + ["-o", "{dir}/photos"], "photos: holds files a compiled model does not (cat.jpg)"),
    (COMPILE + ["-o", "/sys/qcompiler-test/out"], "-o /sys/qcompiler-test/out: cannot write into /sys"),
    (COMPILE + ["-o", "{dir}/o", "--export-onnx", "/sys/m.onnx"], "--export-onnx /sys/m.onnx: cannot write into /sys"),
    (COMPILE + ["-o", "{dir}/o", "--export-onnx", "{dir}/none/m.onnx"], "none/m.onnx: the folder {dir}/none does not"),
    (COMPILE + ["-o", "{dir}/o", "--export-onnx", "{dir}/photos"], "--export-onnx {dir}/photos: is a directory"),
    (COMPILE + ["-o", "{dir}/o", "--report", "{dir}/none/r.html"], "--report {dir}/none/r.html: the folder {dir}/none"),
    (COMPILE + ["-o", "{dir}/o", "-p", "calibrate,quantize,lower{target=cortex-n}"],
     "pass 'lower': option 'target': unknown target 'cortex-n' (did you mean 'cortex-m'?)"),
    (COMPILE + ["-o", "{dir}/o", "-p", ""], "-p '': the pipeline names no pass"),
    (COMPILE + ["-o", "{dir}/o", "--budget", "size=-50%"],
     "--budget 'size=-50%': budget.size='-50%': expected a positive"),
    (COMPILE + ["-o", "{dir}/o", "--budget", "size=nan%"], "expected a positive percentage"),
    (COMPILE + ["-o", "{dir}/o", "--budget", "size=abc%"], "expected a positive percentage"),
    (COMPILE + ["-o", "{dir}/o", "--budget", "size=0KB"], "expected a positive, finite number"),
])
def test_bad_options_fail_before_compiling(capsys, files, no_compile, argv, message):
    argv = [a.replace("{dir}", str(files)) for a in argv]
    code, out, err = run(capsys, argv)
    assert code == 1 and out == "" and err.count("\n") == 1, err
    assert message.replace("{dir}", str(files)) in err, err
    assert not (files / "o").exists()


def test_wrong_shaped_data_is_named_against_the_factory_s_examples(capsys, files):
    code, _, err = run(capsys, ["compile", "qcompiler.testing.zoo:mobilenet_v2_blocks", "--calib",
                                files / "five_channels.npy", "-o", files / "o"])
    assert code == 1 and err.count("\n") == 1, err
    assert "takes inputs shaped like its factory's examples [2, 3, 16, 16] (any batch), given [1, 5, 16, 16]" in err


def test_float64_data_beyond_float32_is_named(capsys, files):
    x = np.load(files / "train.npy").astype(np.float64)
    x[3, 0, 2, 2] = 1e39
    np.save(files / "huge.npy", x)
    code, _, err = run(capsys, ["compile", files / "digits.qir", "--calib", files / "huge.npy", "-o", files / "o"])
    assert code == 1 and "contains values beyond the range of f32 (largest magnitude 1e+39)" in err, err


def test_a_failed_export_writes_nothing(capsys, files, monkeypatch):
    def fail(self, path, form="qoperator", **options):
        Path(path).write_bytes(b"half an onnx file")
        raise QIRError(f"cannot export in {form} form")

    monkeypatch.setattr(CompiledModel, "export_onnx", fail)
    argv = [a.replace("{dir}", str(files)) for a in COMPILE] + ["-o", files / "o", "--export-onnx", files / "o.onnx"]
    code, out, err = run(capsys, argv)
    assert code == 1 and "cannot export in qoperator form" in err
    assert not (files / "o").exists() and not (files / "o.onnx").exists()
    assert [p.name for p in files.iterdir() if "partial" in p.name] == []


def test_a_shape_is_read_without_allocating_it(capsys):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    code, out, err = run(capsys, ["inspect", CLS_MODEL, "--input-shape", "100000000,3,48,192"])
    assert code == 0, err
    assert "input  %x: f32[100000000,3,?,?]" in out  # the batch from the shape, the rest as declared
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 512 * 1024  # KiB: far below 11 TB
