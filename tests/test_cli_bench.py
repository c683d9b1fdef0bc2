"""`qcompiler bench` on the bundled digits CNN with 64 samples: one row per target in the
printed table and in OUT.md / OUT.json, x86 rows measured where the host has the ISA,
ARM rows predicted only, accuracies from the labelled data; errors name the bad target
or file."""
import json

import numpy as np
import pytest

from qcompiler.cli import main
from qcompiler.cli.edge_bench import HEADER, host_cpu_flags, runner_missing
from qcompiler.targets import get_target
from qcompiler.testing.zoo import digits_data

MODEL = "qcompiler.cli.demo:load_demo_model"
TARGETS = ["armv8", "x86-vnni", "x86-avx2", "cortex-m"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    x_train, _, x_test, y_test = (t.numpy() for t in digits_data())
    np.save(root / "calib.npy", x_train[:64])
    np.savez(root / "test.npz", x=x_test[:64], labels=y_test[:64])
    return root


@pytest.fixture(scope="module")
def table(files):
    """(exit code, stdout, the json) of one run over four targets."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main(["bench", MODEL, "--input-shape", "1,1,8,8", "--targets", ",".join(TARGETS), "--calib",
                     str(files / "calib.npy"), "--data", str(files / "test.npz"), "-o", str(files / "edge"),
                     "--repeats", "2", "--batch", "16"])
    return code, out.getvalue(), json.loads((files / "edge.json").read_text())


def test_every_target_has_a_row_in_print_markdown_and_json(table, files):
    code, out, written = table
    assert code == 0
    printed = out.splitlines()
    assert printed[0].split()[0] == "target" and [line.split()[0] for line in printed[1:]] == TARGETS
    markdown = (files / "edge.md").read_text().splitlines()
    assert markdown[2] == "| " + " | ".join(HEADER) + " |"
    assert [line.split("|")[1].strip() for line in markdown[4:]] == TARGETS
    assert [r["target"] for r in written["rows"]] == TARGETS


def test_arm_rows_are_predicted_only_and_x86_rows_measured_where_the_host_runs_them(table):
    rows = {r["target"]: r for r in table[2]["rows"]}
    for name in ("armv8", "cortex-m"):
        assert rows[name]["latency"].startswith("predicted")
        assert rows[name]["onnxruntime_us"] is None and rows[name]["numba_us"] is None
    for name in ("x86-vnni", "x86-avx2"):
        runs_here = runner_missing(get_target(name), host_cpu_flags()) is None
        assert (rows[name]["latency"] == "measured") == runs_here
        if runs_here:
            assert rows[name]["onnxruntime_us"] > 0 and rows[name]["numba_us"] > 0


def test_size_bops_prediction_and_accuracy_of_every_row(table):
    rows = {r["target"]: r for r in table[2]["rows"]}
    for r in rows.values():
        # 3.8k int8 weights (+ int32 biases), an int8 x int8 model: 64 BOPs per MAC
        assert 3_800 < r["size_bytes"] < 5_000 and r["bops"] > 0 and r["predicted_us"] > 0
        assert r["accuracy"] > 0.85
    # the cost models differ: a Cortex-M is ~100x slower than an x86 core with VNNI
    assert rows["cortex-m"]["predicted_us"] > 50 * rows["x86-vnni"]["predicted_us"]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def test_an_unknown_target_is_named_before_anything_compiles(capsys, files):
    code, err = run(capsys, "bench", MODEL, "--input-shape", "1,1,8,8", "--targets", "armv8,x86-avx3", "--calib",
                    files / "calib.npy", "-o", files / "never")
    assert code == 1 and "unknown target 'x86-avx3'" in err and "did you mean 'x86-avx2'" in err
    assert not (files / "never.md").exists()


def test_data_without_labels_is_refused(capsys, files):
    np.savez(files / "unlabelled.npz", x=np.zeros((4, 1, 8, 8), np.float32))
    code, err = run(capsys, "bench", MODEL, "--input-shape", "1,1,8,8", "--targets", "armv8", "--calib",
                    files / "calib.npy", "--data", files / "unlabelled.npz", "-o", files / "never")
    assert code == 1 and "needs an array named 'labels'" in err
