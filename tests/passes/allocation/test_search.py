"""The search pass: Bayesian optimisation (Optuna TPE) of per-layer widths by measured
loss, warm-started from the ILP, never over budget. On the deep digits CNN it is
compared with allocate-bits (`pytest -s` prints the table)."""
import numpy as np
import pytest

import qcompiler.passes.allocation  # noqa: F401  (registers allocate-bits and search)
import qcompiler.passes.quantize  # noqa: F401
from qcompiler.ir.clone import clone
from qcompiler.passes.allocation.bayes import tpe_search
from qcompiler.passes.allocation.problem import AllocationProblem, Choice, LayerOptions
from qcompiler.passes.sensitivity.layers import quantizable_layers
from qcompiler.passmanager import PassContext, PassError, PassManager, PipelineError, run_pipeline
from qcompiler.runtime.torch import run_torch
from qcompiler.testing.deep_digits import deep_digits_setup


@pytest.fixture(scope="module")
def digits():
    """(calibrated deep digits CNN with hessian q.sens, (x, y) batches, x_test, y_test, params per layer)."""
    graph, batches, x_test, y_test = deep_digits_setup()
    run_pipeline(graph, "calibrate{samples=256},sensitivity{metric=hessian,samples=128,tol=0.1}",
                 PassContext(calibration=batches))
    return graph, batches, x_test, y_test, np.array([lay.params for lay in quantizable_layers(graph)])


def bits_of(graph) -> list:
    return [layer.node.attrs["q.bits"] for layer in quantizable_layers(graph)]


def run(graph, pipeline, batches) -> tuple:
    """(a copy of `graph` after `pipeline`, {pass: stats})."""
    graph = clone(graph)
    manager = PassManager(pipeline)
    manager.run(graph, PassContext(calibration=batches))
    return graph, {record.name: record.stats for record in manager.history}


def quantized_accuracy(graph, x, y) -> float:
    """Top-1 of the fully quantized model (weights at q.bits, activations per the target)."""
    graph = clone(graph)
    run_pipeline(graph, "quantize", PassContext())
    return float((run_torch(graph, [x])[0].argmax(1) == y).mean())


def mix(bits) -> str:
    """As the passes' stats write it: '2:1 4:4 8:2'."""
    return " ".join(f"{b}:{bits.count(b)}" for b in sorted(set(bits), key=str))


@pytest.mark.parametrize("budget", [0.35, 0.45, 0.6])
def test_search_is_feasible_and_never_worse_than_the_ilp(digits, budget):
    graph, batches, x_test, y_test, params = digits
    size = budget * params.sum()  # bytes with every layer at 8 bits, times the fraction
    ilp, _ = run(graph, f"allocate-bits{{budget.size={budget:.0%}}}", batches)
    found, stats = run(graph, f"search{{budget.size={budget:.0%},trials=30}}", batches)
    s = stats["search"]
    assert np.dot(bits_of(found), params) / 8 <= size
    assert s["trials"] == 30 and s["feasible"] + s["pruned"] == 30 and s["feasible"] >= 1
    assert s["ilp_mix"] == mix(bits_of(ilp))  # the first trial is allocate-bits' answer
    assert s["loss"] <= s["ilp_loss"]
    if s["loss"] < s["ilp_loss"]:
        assert bits_of(found) != bits_of(ilp) and s["best_trial"] > 0
    print(f"\nsize {budget:.0%}  {'method':7} {'bits':22} {'bytes':>6} {'val loss':>9} {'val acc':>8} {'test acc':>8}")
    for name, g, loss, acc in (("ilp", ilp, s["ilp_loss"], s["ilp_accuracy"]), ("search", found, s["loss"], s["accuracy"])):
        b = bits_of(g)
        print(f"{'':10} {name:7} {str(b):22} {np.dot(b, params) / 8:6.0f} {loss:9.4f} {acc:8.3f} "
              f"{quantized_accuracy(g, x_test, y_test):8.3f}")


def test_the_search_beats_an_uninformed_ilp(digits):
    """With every layer equally sensitive the ILP just fills the budget in layer order;
    measuring finds a configuration of lower loss."""
    graph, batches, *_ = digits
    graph = clone(graph)
    for layer in quantizable_layers(graph):
        layer.node.attrs["q.sens"] = {"2": 1.0, "4": 1.0, "8": 1.0}
    _, stats = run(graph, "search{budget.size=45%,trials=30}", batches)
    assert stats["search"]["loss"] < 0.9 * stats["search"]["ilp_loss"]


def test_tied_layers_share_one_variable_and_over_budget_trials_are_never_chosen():
    # layers 0 and 2 tied; the objective prefers wide everywhere, the budget forbids it
    layers = [LayerOptions(f"l{i}", [Choice(b, 0.0, {"size": float(b)}) for b in (2, 4, 8)]) for i in range(3)]
    problem = AllocationProblem(layers, {"size": 14.0}, [(0, 2)])
    seen = []

    def loss(choices):
        seen.append(choices)
        return -float(sum(choices))

    result = tpe_search(problem, loss, (2, 2, 2), trials=25, seed=0)
    assert all(c[0] == c[2] for c in seen) and result.trials[0].choices == (2, 2, 2)
    assert all(sum(c) <= 14 for c in seen)  # over-budget candidates are never measured
    assert sum(result.best.choices) <= 14 and result.best.value == min(-float(sum(c)) for c in seen)
    assert len(seen) == len(set(seen))  # a candidate met again is not measured twice


def test_options_and_missing_data_are_named(digits):
    graph, *_ = digits
    with pytest.raises(PipelineError, match="unknown search method 'random'; expected one of bayes"):
        run_pipeline(clone(graph), "search{method=random}", PassContext())
    with pytest.raises(PipelineError, match="trials must be at least 1"):
        run_pipeline(clone(graph), "search{trials=0}", PassContext())
    with pytest.raises(PassError, match="search measures losses on data: pass calibration="):
        run_pipeline(clone(graph), "search{budget.size=50%}", PassContext())
    bare = clone(graph)
    del quantizable_layers(bare)[0].node.attrs["q.sens"]
    with pytest.raises(PassError, match="has no q.sens: run sensitivity before search"):
        run_pipeline(bare, "search{budget.size=50%}", PassContext(calibration=digits[1]))


def test_trials_are_measured_on_the_model_quantize_makes(digits):
    """The loss a trial reports is the loss of the graph `quantize` makes from its widths
    (activations quantized at the calibrated ranges), not of float activations."""
    from qcompiler.passes.allocation.measured_loss import score
    from qcompiler.passes.sensitivity.data import sensitivity_batches
    from qcompiler.runtime.torch import to_torch

    graph, batches, *_ = digits
    found, stats = run(graph, "search{budget.size=45%,trials=3}", batches)
    _, float_stats = run(graph, "search{budget.size=45%,trials=1,activations=float}", batches)
    run_pipeline(found, "quantize", PassContext())
    model = to_torch(found).eval()
    ctx = PassContext(calibration=batches)
    measured = score(lambda inputs: model(*inputs), sensitivity_batches(ctx, found, 256, 64), None)
    assert measured.loss == pytest.approx(stats["search"]["loss"], rel=1e-6)
    # both losses are deterministic: any gap above round-off shows the activations were quantized;
    # its size depends on the widths the ILP picks (3e-4 relative at 8,8,4,4,2,4,8; 4e-3 at 8,4,4,2,4,4,4)
    assert stats["search"]["ilp_loss"] != pytest.approx(float_stats["search"]["ilp_loss"], rel=1e-5)


def test_a_short_finetune_per_trial_lowers_the_measured_loss(digits):
    graph, batches, *_ = digits
    _, plain = run(graph, "search{budget.size=35%,trials=1}", batches)
    _, tuned = run(graph, "search{budget.size=35%,trials=1,finetune_epochs=1,finetune_lr=1e-3}", batches)
    assert tuned["search"]["mix"] == plain["search"]["mix"]  # the same (ILP) allocation, measured after QAT
    assert tuned["search"]["loss"] < plain["search"]["loss"]  # QAT trains on the batches it is measured on


@pytest.mark.parametrize("options, message", [
    ("activations=int", "activations='int'; expected one of quantized, float"),
    ("activations=float,finetune_epochs=2", "finetune_epochs fine-tunes the quantized model"),
    ("storage=sqlite:///s.db", "needs study=NAME"),
])
def test_measurement_options_are_checked(options, message):
    with pytest.raises(PipelineError, match=message):
        PassManager(f"search{{{options}}}")


def test_quantized_trials_need_calibrated_ranges(digits):
    graph, batches, *_ = digits
    bare = clone(graph)
    for node in bare.nodes:
        node.attrs.pop("q.range", None)
    with pytest.raises(PassError, match=r"has no q.range: run calibrate before search \(or measure with activations=float\)"):
        run_pipeline(bare, "search{budget.size=50%}", PassContext(calibration=batches))
