"""Budget sweeps give a non-dominated, monotone front, a table and a plot."""
import random

import pytest

from qcompiler.passes.allocation import (AllocationError, AllocationProblem, Choice, LayerOptions, pareto_front,
                                         relative_budget, solve)


def chain(n=12, seed=0):
    rng = random.Random(seed)
    layers = []
    for i in range(n):
        params, trace = rng.randint(100, 5000), rng.uniform(0.01, 1.0)
        layers.append(LayerOptions(f"l{i}", [Choice(b, trace * 4.0 ** -b, {"size": params * b / 8, "lat": rng.uniform(0.1, 1) * b})
                                             for b in (2, 4, 8)]))
    return AllocationProblem(layers, {}, [(0, 1), (5, 6, 7)])


def test_front_is_non_dominated_and_monotone():
    problem = chain()
    front = pareto_front(problem, "size", steps=25)
    assert len(front.front) >= 5
    for p in front.front:
        assert not any(q.cost <= p.cost and q.objective <= p.objective and (q.cost, q.objective) != (p.cost, p.objective)
                       for q in front.solved), "a front point is dominated"
        assert p.cost <= p.budget + 1e-9
    for a, b in zip(front.front, front.front[1:]):
        assert a.cost < b.cost and a.objective > b.objective
    for q in front.solved:  # every solved point is on the front or dominated by it
        assert any(p.cost <= q.cost and p.objective <= q.objective for p in front.front)
    assert front.front[0].cost == pytest.approx(relative_budget(problem, "size", 0.0))
    assert front.front[-1].objective == pytest.approx(solve(problem).objective)


def test_other_budgets_stay_in_force():
    problem = chain()
    lat_cap = relative_budget(problem, "lat", 0.3)
    capped = AllocationProblem(problem.layers, {"lat": lat_cap}, problem.ties)
    front = pareto_front(capped, "size", steps=9)
    assert all(p.allocation.costs["lat"] <= lat_cap + 1e-9 for p in front.solved)
    assert front.front[-1].objective > pareto_front(problem, "size", steps=9).front[-1].objective


def test_table_best_within_and_plot(tmp_path):
    problem = chain()
    budgets = [relative_budget(problem, "size", r) for r in (-0.5, 0.0, 0.2, 0.5, 1.0)]
    front = pareto_front(problem, "size", budgets)
    assert len(front.solved) == 4  # the first budget is below every allocation
    lines = front.table.splitlines()
    assert lines[0].split()[:3] == ["budget", "size", "objective"] and len(lines) == 1 + len(front.front)
    assert "2:" in lines[1] and "8:12" in lines[-1]
    chosen = front.best_within(budgets[3])
    assert chosen.cost <= budgets[3] and chosen.objective == solve(
        AllocationProblem(problem.layers, {"size": budgets[3]}, problem.ties)).objective
    with pytest.raises(AllocationError, match="no point of the size front fits"):
        front.best_within(budgets[0])
    png = front.plot(tmp_path / "front.png", chosen=chosen)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_sweep_errors_name_the_resource():
    with pytest.raises(AllocationError, match="cannot sweep 'bops'"):
        pareto_front(chain(), "bops")
    with pytest.raises(AllocationError, match="every size budget of the sweep is infeasible"):
        pareto_front(chain(), "size", [-1.0])
