"""Exact bit allocation as an integer linear program solved by HiGHS (`scipy.optimize.milp`).

One binary per layer × choice; each layer takes exactly one choice; each budget bounds
the summed cost of one resource; tied layers take the same label; the summed
sensitivity is minimised (HAWQ-V3's ILP, with any number of choices and resources).

Exactness matters: published allocations are unique optima that beat the runner-up by
as little as 2·10⁻⁵ relative. HiGHS's tolerances are absolute: it stops looking for
solutions less than 1e-6 better than its incumbent, and accepts rows exceeded by 1e-6
and binaries 1e-6 away from 0/1. So every row and the objective are shifted by their
per-layer minimum and scaled by their largest per-layer spread. The objective is scaled
up further, to make 1e-6 equal RESOLUTION × the spread: the answer is optimal to within
RESOLUTION × the largest per-layer sensitivity spread. Budget rows stay at unit spread
(scaling them up makes binaries' 1e-6 slack overrun them, which HiGHS then "repairs"
noisily); instead each answer is checked exactly, a budget counting as met when the
cost passes it by at most RESOLUTION × the largest per-layer cost spread (this absorbs
rounding in limits such as C(4) + 1·(C(8) − C(4))), and an answer over budget is cut off
and the problem solved again.

Equally sensitive allocations are resolved by a second solve that keeps the optimal
sensitivity and prefers each layer's earlier-listed choices, earlier layers weighted
more, so the answer depends on the problem, not on the solver's search path.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from scipy.optimize import LinearConstraint, milp
from scipy.sparse import csr_matrix

from .errors import AllocationError, InfeasibleBudget
from .problem import AllocationProblem
from .quiet import c_stdout_silenced

RESOLUTION = 1e-9  # of a row's largest per-layer spread
_FINE = 1e-6 / RESOLUTION  # HiGHS's absolute optimality and feasibility tolerances are 1e-6
_MAX_CUTS = 50


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
    """The problem flattened to one binary per layer × choice."""

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

    def scaled(self, values: np.ndarray, unit: float = 1.0):
        """(values − per-layer minimum) · unit / largest per-layer spread, and (offset, spread)."""
        low = np.minimum.reduceat(values, self.start[:-1])
        shifted = values - low[self.layer_of]
        spread = float(shifted.max()) or 1.0
        return shifted * (unit / spread), math.fsum(low), spread

    def label(self, var: int):
        layer = self.layer_of[var]
        return self.problem.layers[layer].choices[var - self.start[layer]].label

    def total(self, values: np.ndarray, picks: np.ndarray) -> float:
        return math.fsum(values[picks])

    def minimise(self, objective: np.ndarray, bounds: list):
        """Variable indices (one per layer) of an allocation of least `objective` meeting every
        `_Bound` exactly, or None if there is none."""
        cuts = []
        for _ in range(_MAX_CUTS):
            with c_stdout_silenced():
                res = milp(self.scaled(objective, _FINE)[0], integrality=np.ones_like(objective), bounds=(0, 1),
                           constraints=[self.fixed, *(b.constraint for b in bounds), *cuts], options={"mip_rel_gap": 0.0})
            if res.status == 2:
                return None
            if res.status != 0:
                raise AllocationError(f"HiGHS did not solve the allocation problem: {res.message}")
            picks = np.flatnonzero(res.x > 0.5)
            if len(picks) != len(self.problem.layers):
                raise AllocationError(f"HiGHS returned {len(picks)} choices for {len(self.problem.layers)} layers")
            if all(b.holds(picks) for b in bounds):
                return picks
            no_good = np.zeros(len(objective))
            no_good[picks] = 1.0
            cuts.append(LinearConstraint(no_good[None, :], -np.inf, len(picks) - 1))
        raise AllocationError(f"HiGHS kept returning allocations over budget ({_MAX_CUTS} cut off)")


class _Bound:
    """values · x ≤ limit, as a scaled HiGHS row and as an exact check of an allocation."""

    def __init__(self, rows: _Rows, values: np.ndarray, limit: float, unit: float = 1.0):
        self.rows, self.values, self.limit = rows, values, limit
        scaled, offset, self.spread = rows.scaled(values, unit)
        self.constraint = LinearConstraint(scaled[None, :], -np.inf, (limit - offset) * (unit / self.spread))

    def holds(self, picks: np.ndarray) -> bool:
        return self.rows.total(self.values, picks) <= self.limit + RESOLUTION * self.spread


def solve(problem: AllocationProblem) -> Allocation:
    """The allocation of least summed sensitivity within the budgets (InfeasibleBudget if none)."""
    started = time.perf_counter()
    rows = _Rows(problem)
    budgets = [_Bound(rows, rows.cost[r], limit) for r, limit in problem.limits.items()]
    optimal = rows.minimise(rows.sensitivity, budgets)
    if optimal is None:
        raise _infeasible(problem, rows)
    # as fine as the objective, so near-optimal allocations HiGHS could not tell apart stay out
    keep_optimum = _Bound(rows, rows.sensitivity, rows.total(rows.sensitivity, optimal), _FINE)
    preferred = rows.minimise(rows.preference, budgets + [keep_optimum])
    if preferred is None:
        raise AllocationError("HiGHS found no allocation as good as the optimum it had just returned")
    return Allocation(names=tuple(layer.name for layer in problem.layers),
                      choices=tuple(rows.label(v) for v in preferred),
                      objective=rows.total(rows.sensitivity, preferred),
                      costs={r: rows.total(values, preferred) for r, values in rows.cost.items()},
                      solve_time=time.perf_counter() - started, status="optimal")


def smallest_budgets(problem: AllocationProblem) -> dict:
    """Per budgeted resource, its least achievable cost (other budgets ignored, ties kept)."""
    rows = _Rows(problem)
    return {r: rows.total(rows.cost[r], _cheapest(rows, r)) for r in problem.limits}


def _cheapest(rows: _Rows, resource: str) -> np.ndarray:
    return rows.minimise(rows.cost[resource], [])


def _infeasible(problem: AllocationProblem, rows: _Rows) -> InfeasibleBudget:
    cheapest = {r: _cheapest(rows, r) for r in problem.limits}
    minimum = {r: rows.total(rows.cost[r], picks) for r, picks in cheapest.items()}
    tight = [r for r, limit in problem.limits.items() if not _Bound(rows, rows.cost[r], limit).holds(cheapest[r])]
    stated = ", ".join(f"{r} >= {minimum[r]:.10g}" for r in problem.limits)
    if tight:
        given = ", ".join(f"{r} = {problem.limits[r]:.10g}" for r in tight)
        return InfeasibleBudget(f"no allocation meets the budget {given}; the smallest feasible budgets are {stated}", minimum)
    given = ", ".join(f"{r} = {problem.limits[r]:.10g}" for r in problem.limits)
    return InfeasibleBudget(f"no allocation meets the budgets {given} together, though each alone can be met "
                            f"(smallest feasible budgets: {stated})", minimum)
