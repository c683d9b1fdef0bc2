"""Exact bit allocation as an integer linear program solved by HiGHS (`scipy.optimize.milp`).

One binary per layer × choice; each layer takes exactly one choice; each budget bounds
the summed cost of one resource; tied layers take the same label; the summed
sensitivity is minimised (HAWQ-V3's ILP, with any number of choices and resources).

Exactness matters: published allocations are unique optima that beat the runner-up by
as little as 2·10⁻⁵ relative, so HiGHS runs with zero MIP gaps and tightened
feasibility tolerances, and every row is shifted by its per-layer minimum and scaled by
its largest per-layer spread so the tolerances mean the same thing for bytes and for
milliseconds. A budget counts as met when the cost exceeds it by at most 10⁻⁹ of the
largest per-layer cost spread (absorbs rounding in limits such as C(4) + 1·(C(8) − C(4))).

Ties between equally sensitive allocations are broken by a second solve that keeps
the optimal sensitivity and prefers each layer's earlier-listed choices, earlier
layers weighted more, so the answer depends on the problem, not on the solver's path.
"""
from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass

import numpy as np
from scipy.optimize import LinearConstraint, milp
from scipy.sparse import csr_matrix

from .errors import AllocationError, InfeasibleBudget
from .problem import AllocationProblem

TOLERANCE = 1e-9  # in units of a row's largest per-layer spread
_HIGHS = {"mip_rel_gap": 0.0, "mip_abs_gap": 0.0,  # prove optimality exactly
          "mip_feasibility_tolerance": 1e-10, "primal_feasibility_tolerance": 1e-10}


@dataclass(frozen=True)
class Allocation:
    names: tuple  # layer names, in problem order
    choices: tuple  # chosen label per layer
    objective: float  # summed sensitivity of the chosen labels
    costs: dict  # resource -> summed cost, for every resource the layers cost
    solve_time: float  # seconds, all solves included
    status: str

    def as_dict(self) -> dict:
        return dict(zip(self.names, self.choices))


class _Rows:
    """The problem flattened to one variable per layer × choice."""

    def __init__(self, problem: AllocationProblem):
        self.problem = problem
        sizes = [len(layer.choices) for layer in problem.layers]
        self.start = np.concatenate([[0], np.cumsum(sizes)])
        self.layer_of = np.repeat(np.arange(len(sizes)), sizes)
        self.sensitivity = self._flat(lambda c: c.sensitivity)
        self.cost = {r: self._flat(lambda c, r=r: c.cost[r]) for r in problem.resources}
        rank = np.concatenate([np.arange(k) for k in sizes]).astype(float)
        self.preference = rank * (2.0 - self.layer_of / len(sizes))
        self.fixed = LinearConstraint(*self._one_choice_and_ties())

    def _flat(self, get) -> np.ndarray:
        return np.array([get(c) for layer in self.problem.layers for c in layer.choices], dtype=float)

    def _one_choice_and_ties(self):
        n_layers, n_vars = len(self.problem.layers), len(self.layer_of)
        rows, cols, vals = [self.layer_of], [np.arange(n_vars)], [np.ones(n_vars)]
        row = n_layers
        for tie in self.problem.ties:
            first = self._var_by_label(int(tie[0]))
            for other in tie[1:]:
                for label, var in self._var_by_label(int(other)).items():
                    rows.append([row, row]), cols.append([first[label], var]), vals.append([1.0, -1.0])
                    row += 1
        A = csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(row, n_vars))
        rhs = np.r_[np.ones(n_layers), np.zeros(row - n_layers)]
        return A, rhs, rhs

    def _var_by_label(self, layer: int) -> dict:
        return {c.label: int(self.start[layer]) + j for j, c in enumerate(self.problem.layers[layer].choices)}

    def normalised(self, values: np.ndarray):
        """values − per-layer minimum, over the largest per-layer spread: (scaled, offset, scale)."""
        low = np.minimum.reduceat(values, self.start[:-1])
        shifted = values - low[self.layer_of]
        scale = float(shifted.max()) or 1.0
        return shifted / scale, math.fsum(low), scale

    def at_most(self, values: np.ndarray, limit: float) -> LinearConstraint:
        scaled, offset, scale = self.normalised(values)
        return LinearConstraint(scaled[None, :], -np.inf, (limit - offset) / scale + TOLERANCE)

    def minimise(self, objective: np.ndarray, extra: list):
        """Variable indices of an optimal allocation (one per layer), or None if infeasible."""
        with warnings.catch_warnings():  # milp warns that it forwards the HiGHS options verbatim, which is the point
            warnings.filterwarnings("ignore", "Unrecognized options", RuntimeWarning)
            res = milp(objective, integrality=np.ones_like(objective), bounds=(0, 1),
                       constraints=[self.fixed, *extra], options=dict(_HIGHS))
        if res.status == 2:
            return None
        if res.status != 0:
            raise AllocationError(f"HiGHS did not solve the allocation problem: {res.message}")
        picks = np.flatnonzero(res.x > 0.5)
        if len(picks) != len(self.problem.layers):
            raise AllocationError(f"HiGHS returned {len(picks)} choices for {len(self.problem.layers)} layers")
        return picks

    def total(self, values: np.ndarray, picks: np.ndarray) -> float:
        return math.fsum(values[picks])

    def slack(self, values: np.ndarray) -> float:
        """How far an exact sum may pass a row's bound and still count as within it."""
        return 2 * TOLERANCE * self.normalised(values)[2]


def solve(problem: AllocationProblem) -> Allocation:
    """The allocation of least summed sensitivity within the budgets (InfeasibleBudget if none)."""
    started = time.perf_counter()
    rows = _Rows(problem)
    budgets = [rows.at_most(rows.cost[r], limit) for r, limit in problem.limits.items()]
    picks = rows.minimise(rows.normalised(rows.sensitivity)[0], budgets)
    if picks is None:
        raise _infeasible(problem, rows)
    optimum = rows.total(rows.sensitivity, picks)
    keep_optimum = rows.at_most(rows.sensitivity, optimum)
    preferred = rows.minimise(rows.preference, budgets + [keep_optimum])
    # Contract with HiGHS: the tie-break may not cost sensitivity, and no budget may be exceeded.
    if preferred is None or rows.total(rows.sensitivity, preferred) > optimum + rows.slack(rows.sensitivity):
        raise AllocationError("HiGHS lost the optimum while breaking ties; its tolerance options were not applied")
    costs = {r: rows.total(values, preferred) for r, values in rows.cost.items()}
    for r, limit in problem.limits.items():
        if costs[r] > limit + rows.slack(rows.cost[r]):
            raise AllocationError(f"HiGHS exceeded the {r} budget ({costs[r]!r} > {limit!r}); its tolerance options were not applied")
    layers = problem.layers
    return Allocation(names=tuple(layer.name for layer in layers),
                      choices=tuple(layers[rows.layer_of[v]].choices[v - rows.start[rows.layer_of[v]]].label for v in preferred),
                      objective=rows.total(rows.sensitivity, preferred), costs=costs,
                      solve_time=time.perf_counter() - started, status="optimal")


def smallest_budgets(problem: AllocationProblem) -> dict:
    """Per budgeted resource, its least achievable cost (other budgets ignored, ties kept)."""
    return _smallest(problem, _Rows(problem))


def _smallest(problem: AllocationProblem, rows: _Rows) -> dict:
    return {r: rows.total(rows.cost[r], rows.minimise(rows.normalised(rows.cost[r])[0], [])) for r in problem.limits}


def _infeasible(problem: AllocationProblem, rows: _Rows) -> InfeasibleBudget:
    minimum = _smallest(problem, rows)
    tight = [r for r in problem.limits if problem.limits[r] + rows.slack(rows.cost[r]) < minimum[r]]
    stated = ", ".join(f"{r} >= {minimum[r]:.10g}" for r in problem.limits)
    if tight:
        given = ", ".join(f"{r} = {problem.limits[r]:.10g}" for r in tight)
        return InfeasibleBudget(f"no allocation meets the budget {given}; the smallest feasible budgets are {stated}", minimum)
    given = ", ".join(f"{r} = {problem.limits[r]:.10g}" for r in problem.limits)
    return InfeasibleBudget(f"no allocation meets the budgets {given} together, though each alone can be met "
                            f"(smallest feasible budgets: {stated})", minimum)
