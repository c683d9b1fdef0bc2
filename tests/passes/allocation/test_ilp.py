"""The ILP allocator against exhaustive enumeration on small seeded random instances,
its tie-breaking rule, and its infeasible-budget error."""
import itertools
import random

import numpy as np
import pytest

from qcompiler.passes.allocation import (AllocationProblem, Choice, InfeasibleBudget, LayerOptions, smallest_budgets,
                                         solve)

LABELS = ["w2", ("w4", "a8"), 8]  # opaque labels of mixed kinds


def random_problem(seed: int) -> AllocationProblem:
    rng = random.Random(seed)
    n = rng.randint(1, 10)
    integral = rng.random() < 0.5  # small integers make many allocations equally sensitive
    # HiGHS's tolerances are absolute (1e-6): the answer must not depend on the units
    s_unit, c_unit = rng.choice([1e-9, 1.0, 1e9]), rng.choice([1e-9, 1.0, 1e9])
    layers = []
    for i in range(n):
        labels = rng.choice([LABELS, LABELS[:2], LABELS[1:]])
        layers.append(LayerOptions(f"l{i}", [
            Choice(label, s_unit * (rng.randint(0, 3) if integral else rng.uniform(0, 2)),
                   {"size": c_unit * (rng.choice([1, 2, 3]) if integral else rng.uniform(0, 10)), "lat": rng.uniform(0.1, 1)})
            for label in labels]))
    groups = {}
    for i, layer in enumerate(layers):
        groups.setdefault(tuple(map(repr, layer.labels)), []).append(i)
    ties = [tuple(rng.sample(g, rng.randint(2, min(3, len(g))))) for g in groups.values() if len(g) >= 2 and rng.random() < 0.7]
    unbounded = AllocationProblem(layers, {}, ties)
    budgets = {}
    for resource in rng.sample(["size", "lat"], rng.randint(1, 2)):
        low = sum(min(c.cost[resource] for c in layer.choices) for layer in layers)
        high = sum(max(c.cost[resource] for c in layer.choices) for layer in layers)
        budgets[resource] = rng.uniform(low - 0.1 * (high - low), high)  # sometimes below every allocation
    return AllocationProblem(unbounded.layers, budgets, ties)


def enumerate_all(problem: AllocationProblem):
    """Every allocation satisfying the ties: (choice-index matrix, objective, {resource: cost})."""
    grids = np.meshgrid(*[np.arange(len(layer.choices)) for layer in problem.layers], indexing="ij")
    picks = np.stack([g.ravel() for g in grids], axis=1)
    rows = np.arange(len(problem.layers))

    def table(get):
        width = max(len(layer.choices) for layer in problem.layers)
        t = np.zeros((len(problem.layers), width), dtype=object)
        for i, layer in enumerate(problem.layers):
            for j, c in enumerate(layer.choices):
                t[i, j] = get(c)
        return t

    labels = table(lambda c: repr(c.label))[rows, picks]
    keep = np.ones(len(picks), bool)
    for tie in problem.ties:
        for other in tie[1:]:
            keep &= labels[:, tie[0]] == labels[:, other]
    picks = picks[keep]
    objective = table(lambda c: c.sensitivity).astype(float)[rows, picks].sum(axis=1)
    costs = {r: table(lambda c, r=r: c.cost[r]).astype(float)[rows, picks].sum(axis=1) for r in problem.resources}
    return picks, objective, costs


@pytest.mark.parametrize("seed", range(80))
def test_optimum_equals_exhaustive_enumeration(seed):
    problem = random_problem(seed)
    picks, objective, costs = enumerate_all(problem)
    feasible = np.ones(len(picks), bool)
    for r, limit in problem.limits.items():
        feasible &= costs[r] <= limit + 1e-9 * abs(limit)
    if not feasible.any():
        with pytest.raises(InfeasibleBudget) as err:
            solve(problem)
        assert err.value.minimum == pytest.approx({r: costs[r].min() for r in problem.limits}, rel=1e-12)
        return
    allocation = solve(problem)
    assert allocation.objective == pytest.approx(objective[feasible].min(), rel=1e-9, abs=1e-30)
    chosen = [next(j for j, c in enumerate(layer.choices) if c.label == label)
              for layer, label in zip(problem.layers, allocation.choices)]
    match = np.flatnonzero((picks == chosen).all(axis=1))
    assert len(match) == 1 and feasible[match[0]], "the answer must be an enumerated, feasible, tie-respecting allocation"
    assert allocation.costs == pytest.approx({r: c[match[0]] for r, c in costs.items()}, rel=1e-12)

    # the documented tie-break: among optimal allocations, least Σ rank·(2 − i/n)
    n = len(problem.layers)
    preference = (picks * (2.0 - np.arange(n) / n)).sum(axis=1)
    optimal = feasible & (objective <= objective[feasible].min() * (1 + 1e-9))
    best = np.sort(preference[optimal])
    if len(best) == 1 or best[1] - best[0] > 1e-9:  # the rule names one allocation
        assert preference[match[0]] == pytest.approx(best[0], abs=1e-9)


def test_equally_sensitive_layers_resolve_to_earlier_choices_in_earlier_layers():
    layer = lambda i: LayerOptions(f"l{i}", [Choice("big", 0.0, {"size": 1.0}), Choice("small", 1.0, {"size": 0.0})])
    problem = AllocationProblem([layer(i) for i in range(4)], {"size": 2.0})
    first = solve(problem)
    assert first.choices == ("big", "big", "small", "small")
    assert all(solve(problem).choices == first.choices for _ in range(3))


def two_layer_tied_problem(budgets):
    layers = [LayerOptions("a", [Choice(4, 1.0, {"size": 1.0, "lat": 5.0}), Choice(8, 0.0, {"size": 5.0, "lat": 1.0})]),
              LayerOptions("b", [Choice(8, 0.0, {"size": 1.0, "lat": 5.0}), Choice(4, 1.0, {"size": 5.0, "lat": 1.0})])]
    return AllocationProblem(layers, budgets, [(0, 1)])


def test_infeasible_budget_states_the_smallest_feasible_budget():
    # the tie forces one label on both layers, so the cheapest size is 6, not 1 + 1
    with pytest.raises(InfeasibleBudget) as err:
        solve(two_layer_tied_problem({"size": 3.0}))
    assert err.value.minimum == {"size": 6.0}
    assert "size = 3" in str(err.value) and "size >= 6" in str(err.value)
    assert smallest_budgets(two_layer_tied_problem({"size": 3.0, "lat": 0.0})) == {"size": 6.0, "lat": 6.0}
    assert solve(two_layer_tied_problem({"size": 6.0})).costs["size"] == 6.0


def test_budgets_that_only_fail_together_say_so():
    layer = LayerOptions("l", [Choice("x", 0.0, {"size": 2.0, "lat": 10.0}), Choice("y", 0.0, {"size": 10.0, "lat": 2.0})])
    with pytest.raises(InfeasibleBudget, match="together") as err:
        solve(AllocationProblem([layer], {"size": 5.0, "lat": 5.0}))
    assert err.value.minimum == {"size": 2.0, "lat": 2.0}


def test_percent_budget_is_a_fraction_of_the_costliest_allocation():
    layers = [LayerOptions(f"l{i}", [Choice(b, 2.0 ** -b, {"size": i + b}) for b in (2, 4, 8)]) for i in range(5)]
    problem = AllocationProblem(layers, {"size": "60%"})
    assert problem.limits["size"] == pytest.approx(0.6 * sum(i + 8 for i in range(5)))
    assert solve(problem).costs["size"] <= problem.limits["size"]
    brute = min((sum(2.0 ** -b for b in bits), bits) for bits in itertools.product((2, 4, 8), repeat=5)
                if sum(i + b for i, b in enumerate(bits)) <= problem.limits["size"])
    assert solve(problem).objective == pytest.approx(brute[0])


def test_answers_over_budget_within_solver_tolerance_are_cut_off(monkeypatch):
    # Simulate HiGHS accepting a row violation inside its tolerance: the first solve sees
    # every budget loosened; the allocator must notice the overrun and solve again.
    import qcompiler.passes.allocation.ilp as ilp
    from scipy.optimize import LinearConstraint

    layers = [LayerOptions(f"l{i}", [Choice("lo", 1.0, {"size": 1.0}), Choice("hi", 0.0, {"size": 2.0})]) for i in range(3)]
    problem = AllocationProblem(layers, {"size": 4.0})
    real_milp, calls = ilp.milp, []

    def loose_first_call(c, *, constraints, **kwargs):
        calls.append(len(constraints))
        if len(calls) == 1:
            constraints = [constraints[0]] + [LinearConstraint(k.A, k.lb, k.ub + 1e6) for k in constraints[1:]]
        return real_milp(c, constraints=constraints, **kwargs)

    monkeypatch.setattr(ilp, "milp", loose_first_call)
    assert solve(problem).choices == ("lo", "lo", "hi")
    assert calls[1] == calls[0] + 1, "the second solve carries one cut"
