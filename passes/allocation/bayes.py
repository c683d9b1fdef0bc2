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
import json
import math
import time
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

from .errors import AllocationError
from .ilp import RESOLUTION
from .problem import AllocationProblem

RDB_ATTEMPTS = 5


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
               key: Callable = lambda value: value, storage: Optional[str] = None,
               study_name: Optional[str] = None) -> SearchResult:
    """Minimise key(objective(choices)) within the budgets over `trials` trials (the first
    one `start`). The objective takes the label per layer; `key` makes its result a float.

    With `storage` (an Optuna RDB URL: sqlite:///file.db, postgresql://...) the trials go
    into the study `study_name` there, which other processes (or machines) searching the
    same problem share: each runs its own `trials`, TPE learns from all of them, and the
    answer is the best of the whole study (measured again here when another process
    found it, so its value is this process's own measurement)."""
    import optuna

    variables = _variables(problem)
    tables = [{c.label: c.cost for c in layer.choices} for layer in problem.layers]
    measured: dict = {}
    history: list = []

    # variables take the index of a label: an RDB storage keeps only plain numbers and strings,
    # and a label may be a (weight, activation) pair
    labels = [problem.layers[members[0]].labels for _, members in variables]

    def choices_of(params: dict) -> tuple:
        picked = {i: options[params[name]] for (name, members), options in zip(variables, labels) for i in members}
        return tuple(picked[i] for i in range(len(problem.layers)))

    def costs_of(choices: tuple) -> dict:
        return {r: math.fsum(table[label][r] for table, label in zip(tables, choices)) for r in problem.resources}

    def measure(choices: tuple):
        if choices not in measured:
            measured[choices] = objective(choices)
        return measured[choices]

    def run(trial) -> float:
        choices = choices_of({name: trial.suggest_categorical(name, list(range(len(options))))
                              for (name, _), options in zip(variables, labels)})
        costs = costs_of(choices)
        if not _within(problem, costs):
            history.append(Trial(trial.number, choices, costs, None))
            raise optuna.TrialPruned()
        history.append(Trial(trial.number, choices, costs, measure(choices)))
        return float(key(measured[choices]))

    start = tuple(start)
    with _optuna_quiet():
        study = _study(problem, seed, storage, study_name)
        if not study.trials:  # a shared study gets the start once, from whichever process comes first
            study.enqueue_trial({name: list(options).index(start[members[0]])
                                 for (name, members), options in zip(variables, labels)})
        study.optimize(run, n_trials=trials)
        shared = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    first = next((t for t in history if t.choices == start), None)
    if first is None:  # another process measured the start: measure it here too, as the reference
        costs = costs_of(start)
        first = Trial(-1, start, costs, measure(start) if _within(problem, costs) else None)
    if first.value is None:
        raise AllocationError(f"the start allocation {list(start)} is over budget ({first.costs} against "
                              f"{problem.limits})")
    done = [t for t in history if t.value is not None] + ([first] if first not in history else [])
    best = min(done, key=lambda t: (key(t.value), t.number))
    elsewhere = min(shared, key=lambda t: (t.value, t.number), default=None)
    if elsewhere is not None and elsewhere.value < key(best.value):
        choices = choices_of(elsewhere.params)
        best = Trial(elsewhere.number, choices, costs_of(choices), measure(choices))
    return SearchResult(best, first, tuple(history))


def _study(problem: AllocationProblem, seed: int, storage: Optional[str], name: Optional[str]):
    """A new in-memory study, or the named one in `storage`, refused when it was made
    for another problem (other layers, widths, budgets or ties): mixing trials of two
    problems would hand back an allocation of the wrong one."""
    import optuna

    sampler = optuna.samplers.TPESampler(seed=seed)
    if storage is None:
        return optuna.create_study(direction="minimize", sampler=sampler)
    if not name:
        raise AllocationError(f"search{{storage={storage}}} needs study=NAME: processes share a study by its name")
    try:
        study = optuna.create_study(storage=_rdb(storage), study_name=name, direction="minimize", sampler=sampler,
                                    load_if_exists=True)
    except Exception as e:  # a bad URL, a missing driver, a server that refuses: one line naming the option
        raise AllocationError(f"search{{storage={storage}}}: cannot open the study {name!r}: "
                              f"{type(e).__name__}: {e}") from None
    signature = _signature(problem)
    known = study.user_attrs.get("problem")
    if known is None:
        study.set_user_attr("problem", signature)
    elif known != signature:
        raise AllocationError(f"study {name!r} in {storage} was made for another problem (other layers, widths, "
                              f"budgets or ties): give this search another study name")
    return study


def _rdb(url: str):
    """Optuna's RDB storage, retried when processes starting together race to create its
    tables (the loser's schema insert fails with an integrity or lock error)."""
    import optuna
    import sqlalchemy.exc

    for attempt in range(RDB_ATTEMPTS):
        try:
            return optuna.storages.RDBStorage(url)
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.OperationalError):
            if attempt == RDB_ATTEMPTS - 1:
                raise
            time.sleep(0.2 * (attempt + 1))


def _signature(problem: AllocationProblem) -> str:
    return json.dumps({"layers": [[layer.name, [str(label) for label in layer.labels]] for layer in problem.layers],
                       "limits": {r: round(v, 6) for r, v in sorted(problem.limits.items())},
                       "ties": [list(t) for t in problem.ties]}, sort_keys=True)


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
