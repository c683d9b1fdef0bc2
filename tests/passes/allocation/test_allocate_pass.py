"""The allocate-bits pass: budgets in the units users write, costs from types and the
target, exact optima, ties that keep allocations deployable, clear errors; and on the
deep digits CNN, mixed precision that pays off in accuracy."""
import itertools

import numpy as np
import pytest
import torch
import torch.nn as nn

import qcompiler.passes.allocation.allocate  # noqa: F401  (registers the pass)
import qcompiler.passes.quantize  # noqa: F401
import qcompiler.passes.sensitivity  # noqa: F401
from qcompiler.frontends.fx import import_module
from qcompiler.ir.clone import clone
from qcompiler.passes.allocation import InfeasibleBudget
from qcompiler.passes.allocation.budgets import parse_budget
from qcompiler.passes.allocation.costs import layer_costs
from qcompiler.passes.sensitivity.layers import quantizable_layers
from qcompiler.passmanager import PassContext, PassError, PipelineError, run_pipeline
from qcompiler.runtime.torch import run_torch
from qcompiler.targets import get_target
from qcompiler.testing.deep_digits import deep_digits_setup
from qcompiler.testing.zoo import DigitsCNN

PARAMS = [72, 1152, 2560]  # DigitsCNN: conv 8x1x3x3, conv 16x8x3x3, linear 10x256


def digits_graph(sens=None):
    """The (untrained) digits CNN with `q.sens` per layer: {width: score} dicts."""
    graph = import_module(DigitsCNN().eval(), torch.zeros(2, 1, 8, 8), dynamic_batch=True)
    run_pipeline(graph, "fold-bn", PassContext())
    for layer, scores in zip(quantizable_layers(graph), sens or []):
        layer.node.attrs["q.sens"] = {str(b): float(s) for b, s in scores.items()}
    return graph


def bits_of(graph, attr="q.bits"):
    return [layer.node.attrs.get(attr) for layer in quantizable_layers(graph)]


def allocate(graph, options, **ctx):
    context = PassContext(**ctx)
    run_pipeline(graph, f"allocate-bits{{{options}}}", context)
    return context


@pytest.mark.parametrize("resource, value, expected", [
    ("size", 1000, 1000.0), ("size", "0.5MB", 5e5), ("size", "512 KiB", 524288.0), ("size", "2e3B", 2000.0),
    ("size", "60%", "60%"), ("bops", "2.5G", 2.5e9), ("bops", 7, 7.0), ("latency", "3ms", 3e6), ("latency", "40us", 4e4),
    # a plain number as text (the CLI's --budget size=20000) is in the base unit
    ("size", "20000", 20000.0), ("latency", "1500", 1500.0), ("bops", "1e6", 1e6),
])
def test_budget_values_in_the_units_users_write(resource, value, expected):
    assert parse_budget(resource, value) == expected


@pytest.mark.parametrize("options, message", [
    ("budget.size=3parsecs", r"budget.size='3parsecs': expected a percentage like '60%', a number, or a number with one"),
    ("budget.energy=1", r"unknown budget 'budget.energy'; budgets: budget.size, budget.bops, budget.latency"),
    ("choices=[9,8]", r"choices=\[9, 8\]: weight widths must be among \[1, 2, 3, 4, 5, 6, 7, 8\]"),
])
def test_bad_options_are_named(options, message):
    with pytest.raises(PipelineError, match=message):
        allocate(digits_graph(), options)


def test_costs_come_from_the_types_and_the_target_cost_model():
    conv = quantizable_layers(digits_graph())[1]  # 16x8x3x3 on 8x8 maps, per sample
    target = get_target("armv8")
    macs = 16 * 8 * 8 * (8 * 3 * 3)
    costs = layer_costs(conv, 4, 8, target)
    assert costs["size"] == 1152 * 4 / 8 and costs["bops"] == macs * 4 * 8
    moved = 1152 * 4 / 8 + (8 * 8 * 8 + 16 * 8 * 8) * 8 / 8
    assert costs["latency"] == max(macs * target.cost.mac_ns[8], moved / target.cost.bytes_per_ns)


def test_the_allocation_is_the_exact_optimum_within_the_budget():
    rng = np.random.default_rng(0)
    sens = [{b: s for b, s in zip((2, 4, 8), sorted(rng.random(3), reverse=True))} for _ in PARAMS]
    budget = 0.6 * sum(PARAMS)
    graph = digits_graph(sens)
    ctx = allocate(graph, f"budget.size={budget}")
    feasible = [c for c in itertools.product((2, 4, 8), repeat=3) if np.dot(c, PARAMS) / 8 <= budget]
    best = min(feasible, key=lambda c: sum(s[b] for s, b in zip(sens, c)))
    assert bits_of(graph) == list(best)
    assert ctx.diagnostics == []


def test_percentages_are_of_the_costliest_allocation_and_every_budget_holds():
    graph = digits_graph([{2: 9.0, 4: 3.0, 8: 0.0}] * 3)
    run_pipeline(graph, "allocate-bits{budget.size=50%,budget.bops=3M,budget.latency=4.1us}", PassContext())
    bits = bits_of(graph)
    layers = quantizable_layers(graph)
    costs = [layer_costs(layer, b, 8, get_target("generic")) for layer, b in zip(layers, bits)]
    assert sum(c["size"] for c in costs) <= 0.5 * sum(PARAMS)
    assert sum(c["bops"] for c in costs) <= 3e6 and sum(c["latency"] for c in costs) <= 4100
    assert bits != [8, 8, 8]


def test_no_budget_takes_the_least_sensitive_choice_and_says_so():
    graph = digits_graph([{2: 3.0, 4: 1.0, 8: 1.0}] * 3)
    ctx = allocate(graph, "choices=[2,4,8]")
    assert bits_of(graph) == [4, 4, 4]  # equally sensitive: the cheaper width
    assert "no budget given" in str(ctx.diagnostics[0])


def test_an_infeasible_budget_states_the_smallest_feasible_one():
    graph = digits_graph([{2: 1.0, 4: 0.5, 8: 0.0}] * 3)
    with pytest.raises(PassError, match=r"smallest feasible budgets are size >= 946") as info:
        allocate(graph, "budget.size=900")
    assert isinstance(info.value.__cause__, InfeasibleBudget)
    assert info.value.__cause__.minimum == {"size": sum(PARAMS) * 2 / 8}


def test_widths_the_target_cannot_run_are_not_offered():
    graph = digits_graph([{2: 1.0, 4: 0.5, 8: 0.0}] * 3)
    allocate(graph, "budget.size=100%", target="cortex-m")  # int8 weights only
    assert bits_of(graph) == [8, 8, 8]
    with pytest.raises(PassError, match=r"smallest feasible budgets are size >= 3784"):
        allocate(digits_graph([{2: 1.0, 4: 0.5, 8: 0.0}] * 3), "budget.size=2000", target="cortex-m")


@pytest.mark.parametrize("sens, message", [
    (None, r"linear.* has no q.sens: run sensitivity before allocate-bits"),
    ([{4: 1.0, 8: 0.0}] * 3, r"q.sens has widths \['4', '8'\], allocate-bits asks for 2"),
])
def test_missing_sensitivities_are_named(sens, message):
    graph = digits_graph(sens)
    if sens is None:  # only the last layer lacks them
        for layer in quantizable_layers(graph)[:2]:
            layer.node.attrs["q.sens"] = {"2": 1.0, "4": 0.5, "8": 0.0}
    with pytest.raises(PassError, match=message):
        allocate(graph, "budget.size=50%")


class TwiceApplied(nn.Module):
    def __init__(self):
        super().__init__()
        self.shared, self.head = nn.Linear(4, 4), nn.Linear(4, 2)

    def forward(self, x):
        return self.head(torch.relu(self.shared(torch.relu(self.shared(x)))))


def test_layers_sharing_a_weight_take_one_width():
    graph = import_module(TwiceApplied(), torch.zeros(1, 4))
    layers = quantizable_layers(graph)
    assert layers[0].weights[0].weight is layers[1].weights[0].weight
    # alone, the first use would take 2 bits and the second 8
    for layer, sens in zip(layers, ({"2": 0.0, "8": 0.0}, {"2": 5.0, "8": 0.0}, {"2": 0.0, "8": 0.0})):
        layer.node.attrs["q.sens"] = sens
    allocate(graph, "choices=[2,8],budget.size=100%")
    assert bits_of(graph)[:2] == [8, 8]


class Branches(nn.Module):
    """left, right and skip read x; out reads concat(left, right); tap reads left."""

    def __init__(self):
        super().__init__()
        self.left, self.right, self.skip = nn.Conv2d(2, 3, 1), nn.Conv2d(2, 3, 1), nn.Conv2d(2, 2, 1)
        self.out, self.tap = nn.Conv2d(6, 2, 1), nn.Conv2d(3, 2, 1)

    def forward(self, x):
        left = self.left(x)
        return self.skip(x) + self.out(torch.cat([left, self.right(x)], 1)) + self.tap(left)


def test_activation_choices_tie_the_readers_of_one_activation():
    graph = import_module(Branches(), torch.zeros(1, 2, 4, 4))
    layers = quantizable_layers(graph)
    names = [layer.name for layer in layers]
    rng = np.random.default_rng(1)
    for layer in layers:
        layer.node.attrs["q.sens"] = {"4": float(rng.random()), "8": 0.0}
        layer.node.attrs["q.sens_act"] = {"4": float(rng.random()), "8": 0.0}
    ctx = PassContext()
    run_pipeline(graph, "allocate-bits{choices=[4,8],act_choices=[4,8],budget.bops=60%}", ctx)
    chosen = {name: (layer.node.attrs["q.bits"], layer.node.attrs["q.act_bits"]) for name, layer in zip(names, layers)}
    by_module = {module: next(v for k, v in chosen.items() if module in k) for module in ("left", "right", "skip", "out", "tap")}
    assert by_module["left"] == by_module["right"] == by_module["skip"]  # all read x
    assert by_module["out"] == by_module["tap"]  # concat ties left's output to the concat
    assert len(set(chosen.values())) > 1


def test_activation_choices_need_activation_sensitivities():
    graph = digits_graph([{4: 1.0, 8: 0.0}] * 3)
    with pytest.raises(PassError, match=r"has no q.sens_act: run sensitivity\{metric=sqnr, acts=\[...\]\}"):
        allocate(graph, "choices=[4,8],act_choices=[4,8]")


def test_a_graph_without_weights_is_left_alone():
    ctx = allocate(import_module(nn.ReLU(), torch.zeros(2, 3)), "budget.size=1KB")
    assert "nothing to allocate" in str(ctx.diagnostics[0])


# --- accuracy on the deep digits CNN ---------------------------------------------------------

@pytest.fixture(scope="module")
def calibrated():
    """(calibrated float graph, calibration (x, y) batches, x_test, y_test, params per layer)."""
    graph, calibration, x_test, y_test = deep_digits_setup()
    run_pipeline(graph, "calibrate{samples=256}", PassContext(calibration=calibration))
    return graph, calibration, x_test, y_test, np.array([lay.params for lay in quantizable_layers(graph)])


def accuracy(calibrated, bits) -> float:
    graph, _, x_test, y_test, _ = calibrated
    graph = clone(graph)
    for layer, b in zip(quantizable_layers(graph), bits):
        layer.node.attrs["q.bits"] = int(b)
    run_pipeline(graph, "quantize", PassContext())
    return float((run_torch(graph, [x_test])[0].argmax(1) == y_test).mean())


def allocated(calibrated, metric, options) -> list:
    graph, calibration, *_ = calibrated
    graph = clone(graph)
    run_pipeline(graph, f"sensitivity{{metric={metric},samples=128,tol=0.1}},allocate-bits{{{options}}}",
                 PassContext(calibration=calibration))
    return bits_of(graph)


@pytest.mark.parametrize("metric", ["hessian", "sqnr"])
def test_mixed_4_and_8_bits_at_the_size_of_6_bits_is_at_least_as_accurate_as_4_bits(calibrated, metric):
    params = calibrated[4]
    budget = params.sum() * 6 / 8
    bits = allocated(calibrated, metric, f"budget.size={budget},choices=[4,8]")
    assert set(bits) == {4, 8} and np.dot(bits, params) / 8 <= budget
    assert accuracy(calibrated, bits) >= accuracy(calibrated, [4] * len(bits))


@pytest.mark.parametrize("metric", ["hessian", "sqnr"])
def test_the_ilp_beats_random_allocations_of_the_same_size(calibrated, metric):
    params = calibrated[4]
    budget = params.sum() * 4 / 8
    bits = allocated(calibrated, metric, f"budget.size={budget}")
    size = np.dot(bits, params) / 8
    every = np.array(list(itertools.product((2, 4, 8), repeat=len(params))))
    sizes = every @ params / 8
    same_size = every[(sizes <= budget) & (sizes >= size - 0.1 * budget)]
    draws = same_size[np.random.default_rng(0).choice(len(same_size), 8, replace=False)]
    ilp = accuracy(calibrated, bits)
    random = [accuracy(calibrated, b) for b in draws]
    assert ilp > np.mean(random) + 0.03, (ilp, random)
