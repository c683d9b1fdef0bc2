"""`qcompiler compile --budget`: mixed precision from the command line (sensitivity and
allocate-bits inserted before quantize, weights recalibrated at their widths), within
every budget given, reported per layer; bad budgets are one error line."""
import numpy as np
import pytest

import qcompiler
from qcompiler.cli import main
from qcompiler.pipelines import with_bit_allocation

from digits_fixtures import digits  # noqa: F401 (fixture)

FACTORY = "qcompiler.cli.demo:load_demo_model"
WEIGHTS = {"features_2": 72, "features_5": 1152, "classifier": 2560}  # conv 8x1x3x3, conv 16x8x3x3, linear 10x256


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def calib(tmp_path_factory, digits):
    path = tmp_path_factory.mktemp("budget") / "train.npy"
    np.save(path, digits[0].numpy()[:128])
    return path


def test_with_bit_allocation_inserts_before_quantize_and_recalibrates_weights():
    pipeline = with_bit_allocation("fold-bn,calibrate{method=percentile,percentile=99.9},quantize,lower",
                                   {"size": "60%", "bops": "2G"}, "sqnr")
    assert pipeline == ["fold-bn", "calibrate{method=percentile,percentile=99.9}", "sensitivity{metric=sqnr}",
                        "allocate-bits{budget.size=60%,budget.bops=2G}",
                        "calibrate-weights{method=percentile,granularity=channel,percentile=99.9}", "quantize", "lower"]
    assert with_bit_allocation("quantize", {"size": 1000}) == ["sensitivity{metric=hessian}",
                                                               "allocate-bits{budget.size=1000}", "quantize"]


def test_compile_within_a_size_budget_reports_bits_and_sensitivities(capsys, calib, tmp_path, digits):
    code, out, err = run(capsys, "compile", FACTORY, "--calib", calib, "-o", tmp_path / "out",
                         "--budget", "size=60%", "--budget", "bops=90%")
    assert code == 0, err
    assert "sensitivity{metric=hessian},allocate-bits{budget.size=60%,budget.bops=90%},calibrate-weights{" in out
    header = next(line for line in out.splitlines() if line.startswith("layer"))
    assert header.split()[5:8] == ["bits", "alloc", "sens"]
    cm = qcompiler.load(tmp_path / "out")
    report = cm.report()
    assert all(r["sens"] is None and r["alloc_bits"] is None for r in report.rows if r["layer"] not in WEIGHTS)
    rows = {r["layer"]: r for r in report.rows if r["layer"] in WEIGHTS}
    bits = {name: r["alloc_bits"] for name, r in rows.items()}
    assert sum(WEIGHTS[name] * b for name, b in bits.items()) / 8 <= 0.6 * sum(WEIGHTS.values())
    assert len(set(bits.values())) > 1
    for name, r in rows.items():
        node = next(n for n in cm.graph.nodes if n.outputs[0].name == name)
        assert r["w_bits"] == r["alloc_bits"] and r["sens"] == node.attrs["q.sens"][str(r["alloc_bits"])]
        assert f"w{r['alloc_bits']}" in next(line for line in out.splitlines() if line.startswith(name))
    accuracy = (cm(digits[2].numpy()).argmax(1) == digits[3].numpy()).mean()
    assert accuracy > 0.93


@pytest.mark.parametrize("budget, message", [
    ("size", "--budget 'size': expected RESOURCE=VALUE, e.g. size=60%"),
    ("energy=1", "unknown budget 'budget.energy'; budgets: budget.size, budget.bops, budget.latency"),
    ("size=3parsecs", "budget.size='3parsecs': expected a percentage like '60%'"),
])
def test_a_bad_budget_is_one_error_line(capsys, calib, tmp_path, budget, message):
    code, out, err = run(capsys, "compile", FACTORY, "--calib", calib, "-o", tmp_path / "o", "--budget", budget)
    assert code == 1 and out == "" and err.count("\n") == 1 and message in err, err


def test_budgets_need_data_and_a_quantize_pass(capsys, calib, tmp_path):
    code, _, err = run(capsys, "compile", FACTORY, "-o", tmp_path / "o", "-p", "fold-bn,quantize", "--budget", "size=50%")
    assert code == 1 and "--budget measures layer sensitivities on data: give samples with --calib" in err
    code, _, err = run(capsys, "compile", FACTORY, "--calib", calib, "-o", tmp_path / "o", "-p", "fold-bn,calibrate",
                       "--budget", "size=50%")
    assert code == 1 and "pass 'quantize' is not in the pipeline" in err
    code, _, err = run(capsys, "compile", FACTORY, "--calib", calib, "-o", tmp_path / "o", "--budget", "size=50%",
                       "--budget", "size=40%")
    assert code == 1 and "--budget size is given twice" in err


def test_labels_in_the_calibration_file_give_the_sensitivity_the_task_loss(capsys, calib, tmp_path, digits):
    """As `qcompiler pareto --calib` reads them, so its printed pipeline compiles alike."""
    labelled = tmp_path / "labelled.npz"
    np.savez(labelled, x=np.load(calib), labels=digits[1].numpy()[:128])
    sens = {}
    for name, data in [("kl", calib), ("task", labelled)]:
        code, _, err = run(capsys, "compile", FACTORY, "--calib", data, "-o", tmp_path / name, "--budget", "size=60%")
        assert code == 0, err
        sens[name] = [r["sens"] for r in qcompiler.load(tmp_path / name).report().rows if r["layer"] in WEIGHTS]
    assert None not in sens["task"] and sens["task"] != sens["kl"]
