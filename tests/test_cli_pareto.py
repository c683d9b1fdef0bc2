"""`qcompiler pareto` end to end: an ONNX file and a torch factory swept, the table with
its front and chosen point, the plot, the chosen point's pipeline; and one error line
for each kind of bad input."""
import numpy as np
import pytest
import torch
from qcompiler.backends.onnx import export

from qcompiler.cli import main
from qcompiler.model.loading import load_model
from qcompiler.testing.deep_digits import train_deep_digits_cnn
from qcompiler.testing.zoo import digits_data


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The deep digits CNN as ONNX, calibration samples (with and without labels) and validation data."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("pareto")
    x_train, y_train, x_test, y_test = (t.numpy() for t in digits_data())
    export(load_model(train_deep_digits_cnn(), torch.from_numpy(x_test[:1]), dynamic_batch=True), root / "deep.onnx")
    np.save(root / "calib.npy", x_train[:128])
    np.savez(root / "calib_labelled.npz", x=x_train[:128], labels=y_train[:128])
    np.savez(root / "val.npz", x=x_test, labels=y_test)
    np.savez(root / "unlabelled.npz", x=x_test, y=y_test)
    yield root
    torch.set_num_threads(before)


def table_rows(out: str) -> list:
    lines = out.splitlines()
    return lines[3:lines.index(next(line for line in lines if line.startswith("chosen: ")))]


def test_help(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["pareto", "--help"])
    assert exit_.value.code == 0 and capsys.readouterr().out.startswith("usage: qcompiler pareto")


def test_an_onnx_model_swept_with_the_chosen_point_marked_and_plotted(capsys, files):
    png = files / "front.png"
    code, out, err = run(capsys, "pareto", files / "deep.onnx", "--target", "armv8", "--calib", files / "calib.npy",
                         "--val", files / "val.npz", "--resource", "size", "--steps", "6", "--metric", "sqnr",
                         "--samples", "128", "--min-accuracy", "95%", "--plot", png)
    assert code == 0, err
    assert out.startswith("size sweep on armv8, sqnr sensitivity; float model: accuracy 9")
    rows = table_rows(out)
    assert len(rows) == 6 and sum("*" in row.split() for row in rows) >= 3
    chosen = [row for row in rows if row.endswith("<- chosen")]
    assert len(chosen) == 1 and "*" in chosen[0].split() and float(chosen[0].split()[4].rstrip("%")) >= 95.0
    assert "pipeline: fold-constants," in out and "allocate-bits{budget.size=" in out
    assert f"wrote {png}" in err and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_torch_factory_with_labelled_calibration_budgets_and_a_size_cap(capsys, files):
    code, out, err = run(capsys, "pareto", "qcompiler.cli.demo:load_demo_model", "--calib", files / "calib_labelled.npz",
                         "--val", files / "val.npz", "--budgets", "1KB,50%,75%,100%", "--choices", "4,8",
                         "--metric", "sqnr", "--samples", "64", "--max-size", "3KB")
    assert code == 0, err
    rows = table_rows(out)
    assert len(rows) == 3  # 1KB fits no allocation
    chosen = next(row for row in rows if row.endswith("<- chosen"))
    assert float(chosen.split()[1]) <= 3000
    assert "chosen: " in out and "size " in out


def test_a_cap_no_point_meets_prints_the_table_then_the_error(capsys, files):
    code, out, err = run(capsys, "pareto", "qcompiler.cli.demo:load_demo_model", "--calib", files / "calib.npy",
                         "--val", files / "val.npz", "--steps", "2", "--metric", "sqnr", "--samples", "32",
                         "--max-size", "100B")
    assert code == 1 and len(out.splitlines()) == 5 and "<- chosen" not in out
    assert err.startswith("qcompiler pareto: error: no point of the front meets max_size=100")


@pytest.mark.parametrize("argv, message", [
    (["--val", "{dir}/unlabelled.npz"], "unlabelled.npz: needs an array named 'labels' next to the inputs"),
    (["--val", "{dir}/val.npz", "--min-accuracy", "high"], "--min-accuracy 'high': expected a fraction like 0.97"),
    (["--val", "{dir}/val.npz", "--choices", "4,eight"], "--choices '4,eight': expected comma-separated bit widths"),
    (["--val", "{dir}/val.npz", "--max-size", "50%"], "--max-size '50%': give an absolute value, not a percentage"),
    (["--val", "{dir}/val.npz", "--max-latency", "3 parsecs"], "budget.latency='3 parsecs'"),
    (["--val", "{dir}/val.npz", "--metric", "vibes"], "unknown metric 'vibes'"),
    (["--val", "{dir}/missing.npz"], "missing.npz: no such file"),
])
def test_bad_input_is_one_error_line(capsys, files, argv, message):
    argv = ["pareto", "qcompiler.cli.demo:load_demo_model", "--calib", str(files / "calib.npy")] + \
        [a.replace("{dir}", str(files)) for a in argv]
    code, out, err = run(capsys, *argv)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("qcompiler pareto: error: ") and message in err, err
