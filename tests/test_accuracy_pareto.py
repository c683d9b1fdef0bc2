"""accuracy_pareto on the deep digits CNN: a non-dominated front along which accuracy
rises with size, measured accuracies that are the quantized models' own, a table that
lists every point, a plot, the choice rules, and clear errors for bad options."""
import numpy as np
import pytest
import torch
from qcompiler.passes.allocation import AllocationError

from qcompiler.model.loading import load_model
from qcompiler.pareto.sweep import accuracy_pareto
from qcompiler.pareto.result import ParetoError
from qcompiler.passmanager import PassContext, run_pipeline
from qcompiler.pipelines import remove
from qcompiler.runtime.torch import run_torch
from qcompiler.testing.deep_digits import train_deep_digits_cnn
from qcompiler.testing.zoo import digits_data, train_digits_cnn
from qcompiler.pareto.validation import ValidationError


@pytest.fixture(scope="module")
def digits():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    x_train, y_train, x_test, y_test = digits_data()
    calibration = [(x_train[i:i + 64], y_train[i:i + 64]) for i in range(0, 256, 64)]
    yield calibration, (x_test.numpy(), y_test.numpy())
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def swept(digits):
    calibration, validation = digits
    return accuracy_pareto(train_deep_digits_cnn(), target="armv8", calibration=calibration, validation=validation,
                           steps=6, samples=128)


def beats(q, p) -> bool:
    """q is at least as accurate, small and fast as p, and better in one of them."""
    mine, theirs = (q.accuracy, -q.size, -q.latency), (p.accuracy, -p.size, -p.latency)
    return all(a >= b for a, b in zip(mine, theirs)) and mine != theirs


def test_the_front_is_non_dominated_and_accuracy_rises_with_size(swept):
    assert len(swept.points) == 6 and len(swept.front) >= 3
    for p in swept.front:
        assert not any(beats(q, p) for q in swept.points)
    for p in swept.points:  # every point off the front is beaten by it, or is one of its allocations again
        assert p in swept.front or any(beats(q, p) or q.bits == p.bits for q in swept.front)
        assert p.size <= p.budget + 1e-6 and set(p.bits.values()) <= {2, 4, 8}
    sizes = [p.size for p in swept.front]
    accuracies = [p.accuracy for p in swept.front]
    assert sizes == sorted(sizes) and accuracies == sorted(accuracies)
    assert set(swept.points[0].bits.values()) == {2} and set(swept.points[-1].bits.values()) == {8}
    assert accuracies[-1] >= swept.reference.accuracy - 0.01 > accuracies[0]


def test_the_pipeline_of_a_point_compiles_its_allocation_and_measured_accuracy(swept, digits):
    calibration, (x_test, y_test) = digits
    point = swept.front[len(swept.front) // 2]
    assert len(set(point.bits.values())) > 1  # a mixed allocation
    graph = load_model(train_deep_digits_cnn(), torch.from_numpy(x_test[:1]), dynamic_batch=True)
    run_pipeline(graph, remove(swept.pipeline(point), "lower"), PassContext(target="armv8", calibration=calibration))
    layers = [n for n in graph.nodes if n.outputs and n.outputs[0].name in point.bits]
    assert {n.outputs[0].name: n.attrs["q.bits"] for n in layers} == point.bits
    assert float((run_torch(graph, [x_test])[0].argmax(1) == y_test).mean()) == point.accuracy


def test_choose_marks_one_front_point_in_the_rows_the_table_and_the_plot(swept, tmp_path):
    smallest_good = swept.choose(min_accuracy=swept.reference.accuracy - 0.02)
    assert smallest_good in swept.front and smallest_good.accuracy >= swept.reference.accuracy - 0.02
    assert all(p.size >= smallest_good.size for p in swept.front if p.accuracy >= swept.reference.accuracy - 0.02)
    cap = swept.front[1].size
    best_small = swept.choose(max_size=cap)
    assert best_small.size <= cap and best_small.accuracy == max(p.accuracy for p in swept.points if p.size <= cap)
    assert swept.chosen is best_small
    rows = swept.rows()
    assert [r["chosen"] for r in rows].count(True) == 1 and rows[swept.points.index(best_small)]["chosen"]
    assert sum(r["front"] for r in rows) == len(swept.front)
    lines = swept.table().splitlines()
    assert len(lines) == 3 + len(swept.points)
    assert lines[1] == "bits per layer: " + ", ".join(swept.layers) and len(swept.layers) == 7
    for line, p in zip(lines[3:], swept.points):
        assert line.split()[:2] == [f"{p.budget:.6g}", f"{p.size:.6g}"]
        assert line.endswith(" ".join(map(str, p.bits.values())) + ("  <- chosen" if p is best_small else ""))
        assert ("*" in line.split()) == (p in swept.front)
    png = swept.plot(tmp_path / "front.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10000


def test_a_choice_no_front_point_meets_is_an_error(swept):
    with pytest.raises(ParetoError, match=r"no point of the front meets max_size=100, min_accuracy=0.5; the front spans"):
        swept.choose(max_size=100, min_accuracy=0.5)


@pytest.fixture(scope="module")
def small(digits):
    """The 3-layer digits CNN: quick to sweep."""
    return train_digits_cnn()


def test_budgets_in_units_and_percentages_on_bit_operations(small, digits):
    calibration, validation = digits
    result = accuracy_pareto(small, target="generic", calibration=calibration, validation=validation, resource="bops",
                             budgets=["1k", "60%", "4M", "100%"], choices=[4, 8], metric="sqnr", samples=64)
    widest = result.points[-1].bops
    assert [p.budget for p in result.points] == pytest.approx([0.6 * widest, 4e6, widest])  # no allocation fits 1k
    assert all(p.bops <= p.budget for p in result.points) and set(result.points[-1].bits.values()) == {8}
    assert set(result.points[0].bits.values()) == {4, 8}
    assert result.table().splitlines()[2].split()[0:2] == ["budget", "size"]
    assert "allocate-bits{budget.bops=" in result.pipeline(result.points[1])


@pytest.mark.parametrize("options, error, message", [
    ({"resource": "energy"}, ParetoError, "resource='energy': expected one of size, bops, latency"),
    ({"steps": 1}, ParetoError, "steps=1: the sweep needs at least 2 budgets"),
    ({"choices": [9, 8]}, ParetoError, r"choices=\[9, 8\]: weight widths must be among \[1, 2, 3, 4, 5, 6, 7, 8\]"),
    ({"pipeline": "fold-bn,calibrate"}, ParetoError, "the pipeline has no quantize pass"),
    ({"pipeline": "calibrate,allocate-bits,quantize"}, ParetoError, "the pipeline already runs allocate-bits"),
    ({"budgets": ["3parsecs"]}, AllocationError, "budget.size='3parsecs'"),
    ({"validation": "x"}, ValidationError, r"validation data must be an \(inputs, labels\) pair"),
    ({"validation": (np.zeros((4, 1, 8, 8), np.float32), np.zeros(3, np.int64))}, ValidationError,
     "validation data has 4 samples but 3 labels"),
    ({"validation": (np.zeros((4, 64), np.float32), np.zeros(4, np.int64))}, ValidationError,
     r"validation data: .*has shape \[4, 64\], expected \['N', 1, 8, 8\]"),
])
def test_bad_options_are_named(small, digits, options, error, message):
    calibration, validation = digits
    kwargs = {"target": "generic", "calibration": calibration, "validation": validation, "metric": "sqnr",
              "samples": 32, "steps": 2, **options}
    if isinstance(kwargs["validation"], tuple) and kwargs["validation"][0].ndim == 2:
        kwargs["example_inputs"] = torch.zeros(1, 1, 8, 8)
    with pytest.raises(error, match=message):
        accuracy_pareto(small, **kwargs)
