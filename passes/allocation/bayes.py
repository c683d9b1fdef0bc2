"""Bayesian optimisation of an AllocationProblem against a measured objective (BOMP-NAS's
idea, with Optuna's TPE sampler): one categorical variable per layer (per tie group:
tied layers share one), the problem's budgets as hard constraints.

The first trial is a given start (the ILP's allocation), so the answer is never worse
than it by the objective. Candidates over budget are pruned before they are measured:
TPE ranks pruned trials behind every measured one, so it learns to avoid them, and they
are never returned. A candidate met again is not measured twice.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Callable, Sequence

from .errors import AllocationError
from .ilp import RESOLUTION
from .problem import AllocationProblem


@dataclass(frozen=True)
class Trial:
    number: int
    choices: tuple  # label per layer, in problem order
    costs: dict  # resource -> summed cost
    value: object  # what the objective returned; None when pruned as over budget


@dataclass(frozen=True)
class SearchResult:
    best: Trial
    start: Trial
    trials: tuple

    @property
    def feasible(self) -> int:
        return sum(t.value is not None for t in self.trials)


def tpe_search(problem: AllocationProblem, objective: Callable, start: Sequence, trials: int, seed: int,
               key: Callable = lambda value: value) -> SearchResult:
    """Minimise key(objective(choices)) within the budgets over `trials` trials (the first
    one `start`). The objective takes the label per layer; `key` makes its result a float."""
    import optuna

    variables = _variables(problem)
    tables = [{c.label: c.cost for c in layer.choices} for layer in problem.layers]
    measured: dict = {}
    history: list = []

    def run(trial) -> float:
        picked = {}
        for name, members in variables:
            label = trial.suggest_categorical(name, problem.layers[members[0]].labels)
            picked.update({i: label for i in members})
        choices = tuple(picked[i] for i in range(len(problem.layers)))
        costs = {r: math.fsum(table[label][r] for table, label in zip(tables, choices)) for r in problem.resources}
        if not _within(problem, costs):
            history.append(Trial(trial.number, choices, costs, None))
            raise optuna.TrialPruned()
        if choices not in measured:
            measured[choices] = objective(choices)
        history.append(Trial(trial.number, choices, costs, measured[choices]))
        return float(key(measured[choices]))

    with _optuna_quiet():
        study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed))
        study.enqueue_trial({name: start[members[0]] for name, members in variables})
        study.optimize(run, n_trials=trials)
    first = history[0]
    if first.value is None:
        raise AllocationError(f"the start allocation {list(start)} is over budget ({first.costs} against "
                              f"{problem.limits})")
    done = [t for t in history if t.value is not None]
    best = min(done, key=lambda t: (key(t.value), t.number))
    return SearchResult(best, first, tuple(history))


def _variables(problem: AllocationProblem) -> list:
    """(name, layer indices) per variable: a tie group, or a single layer."""
    tied = {i: tie for tie in problem.ties for i in tie}
    seen: set = set()
    out = []
    for i in range(len(problem.layers)):
        members = tuple(sorted(tied.get(i, (i,))))
        if members[0] not in seen:
            seen.add(members[0])
            out.append((problem.layers[members[0]].name, members))
    return out


def _within(problem: AllocationProblem, costs: dict) -> bool:
    """Every budget met, with the ILP's tolerance (RESOLUTION of the largest per-layer
    cost spread), so the ILP's own answer always counts as feasible."""
    for resource, limit in problem.limits.items():
        spread = max(max(c.cost[resource] for c in layer.choices) - min(c.cost[resource] for c in layer.choices)
                     for layer in problem.layers) or 1.0
        if costs[resource] > limit + RESOLUTION * spread:
            return False
    return True


@contextlib.contextmanager
def _optuna_quiet():
    """Passes never print: Optuna logs every trial at INFO unless told otherwise."""
    import optuna

    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(before)
