"""Budget sweeps: solve the allocation for a range of budgets on one resource and keep
the Pareto front of (cost, summed sensitivity), as a table and as a plot."""
from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from qcompiler.atomic_write import atomic_file

from .errors import AllocationError, InfeasibleBudget
from .ilp import Allocation, solve
from .problem import AllocationProblem, relative_budget


@dataclass(frozen=True)
class ParetoPoint:
    budget: float  # the budget that was solved for
    cost: float  # what the allocation actually uses of the swept resource
    objective: float
    allocation: Allocation

    def mix(self) -> str:
        """How many layers took each label, e.g. '4:10 8:9'."""
        counts = Counter(map(str, self.allocation.choices))
        return " ".join(f"{label}:{n}" for label, n in sorted(counts.items()))


@dataclass(frozen=True)
class ParetoFront:
    resource: str
    solved: tuple  # every feasible sweep point, in sweep order
    front: tuple  # the non-dominated points, cost ascending, objective strictly descending

    @property
    def table(self) -> str:
        header = f"{'budget':>14} {self.resource:>14} {'objective':>14}  choices"
        lines = [f"{p.budget:14.6g} {p.cost:14.6g} {p.objective:14.6g}  {p.mix()}" for p in self.front]
        return "\n".join([header, *lines])

    def best_within(self, budget: float) -> ParetoPoint:
        """The front point of least objective whose cost fits `budget`."""
        fitting = [p for p in self.front if p.cost <= budget]
        if not fitting:
            raise AllocationError(f"no point of the {self.resource} front fits the budget {budget:.6g} "
                                  f"(cheapest: {self.front[0].cost:.6g})")
        return fitting[-1]

    def plot(self, path, chosen: Optional[ParetoPoint] = None) -> Path:
        """Draws all solved points, the front and `chosen` into an image file (Agg, no display)."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=(6, 4), dpi=100)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        ax.scatter([p.cost for p in self.solved], [p.objective for p in self.solved], s=12, c="0.6", label="solved")
        ax.step([p.cost for p in self.front], [p.objective for p in self.front], where="post", marker="o", label="Pareto front")
        if chosen is not None:
            ax.scatter([chosen.cost], [chosen.objective], s=160, marker="*", c="red", zorder=3, label="chosen")
        ax.set_xlabel(self.resource)
        ax.set_ylabel("summed sensitivity")
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        with atomic_file(path) as partial:  # a failed write leaves the old picture
            fig.savefig(partial)
        return Path(path)


def pareto_front(problem: AllocationProblem, resource: str, budgets: Optional[Sequence[float]] = None,
                 steps: int = 21) -> ParetoFront:
    """Solve for each budget on `resource` (default: `steps` budgets from the cheapest to the
    costliest allocation, see `relative_budget`); the problem's other budgets stay in force."""
    if resource not in problem.resources:
        raise AllocationError(f"cannot sweep {resource!r}: the layers' costs only have {sorted(problem.resources)}")
    if budgets is None:
        budgets = [relative_budget(problem, resource, r) for r in np.linspace(0.0, 1.0, steps)]
    solved = []
    for budget in budgets:
        swept = dataclasses.replace(problem, budgets={**problem.budgets, resource: float(budget)})
        try:
            allocation = solve(swept)
        except InfeasibleBudget:
            continue
        solved.append(ParetoPoint(float(budget), allocation.costs[resource], allocation.objective, allocation))
    if not solved:
        raise AllocationError(f"every {resource} budget of the sweep is infeasible")
    return ParetoFront(resource, tuple(solved), _non_dominated(solved))


def _non_dominated(points: list) -> tuple:
    front = []
    for p in sorted(points, key=lambda p: (p.cost, p.objective)):
        if not front or p.objective < front[-1].objective:
            front.append(p)
    return tuple(front)
