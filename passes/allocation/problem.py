"""The bit-allocation problem as plain data: per-layer choices with a sensitivity and a
cost per resource, budgets on resources, and ties between layers.

It knows nothing of the IR graph, so any sensitivity estimate (Hessian trace, SQNR, a
measured loss delta) and any cost model (bytes, BOPs, measured latency) can feed it.
A choice label is opaque to the solver: 4, "w4a8", ("codebook", 16) all work; only
equality and hashing are used.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Hashable, Mapping, Sequence, Union

from .errors import AllocationError

Budget = Union[float, int, str]  # absolute value, or "60%" = 0.6 * cost with every layer at its costliest choice


@dataclass(frozen=True)
class Choice:
    label: Hashable
    sensitivity: float  # what this choice adds to the minimised objective
    cost: Mapping[str, float]  # resource name -> cost, e.g. {"size": bytes, "bops": ..., "latency": ...}


@dataclass(frozen=True)
class LayerOptions:
    name: str
    choices: Sequence[Choice]  # listed in order of preference among equally sensitive allocations

    @property
    def labels(self) -> list:
        return [c.label for c in self.choices]


@dataclass(frozen=True)
class AllocationProblem:
    layers: Sequence[LayerOptions]
    budgets: Mapping[str, Budget] = field(default_factory=dict)
    ties: Sequence[tuple] = ()  # each tuple of layer indices takes one common choice label
    resources: frozenset = field(init=False)  # the resources every choice has a cost for
    limits: dict = field(init=False)  # the budgets as absolute values

    def __post_init__(self):
        if not self.layers:
            raise AllocationError("allocation problem has no layers")
        resources = _check_layers(self.layers)
        object.__setattr__(self, "resources", resources)  # a frozen dataclass sets derived fields this way
        for resource in self.budgets:
            if resource not in resources:
                raise AllocationError(f"budget names resource {resource!r}, but the layers' costs only have {sorted(resources)}")
        _check_ties(self.layers, self.ties)
        object.__setattr__(self, "limits", {r: _absolute(self, r, b) for r, b in self.budgets.items()})


def total_cost(problem: AllocationProblem, resource: str, pick=max) -> float:
    """Cost of `resource` with every layer at its costliest (`pick=max`) or cheapest (`pick=min`) choice."""
    if resource not in problem.resources:
        raise AllocationError(f"no cost {resource!r}: the layers' costs only have {sorted(problem.resources)}")
    return math.fsum(pick(c.cost[resource] for c in layer.choices) for layer in problem.layers)


def relative_budget(problem: AllocationProblem, resource: str, r: float) -> float:
    """C(min) + r·(C(max) − C(min)): r = 0 allows only the cheapest choices, r = 1 everything
    (HAWQ-V3's limit rule, with C(b) the cost of all layers at b bits)."""
    low = total_cost(problem, resource, min)
    return low + r * (total_cost(problem, resource, max) - low)


def _absolute(problem: AllocationProblem, resource: str, budget: Budget) -> float:
    if isinstance(budget, str):
        text = budget.strip()
        try:
            if not text.endswith("%"):
                raise ValueError
            fraction = float(text[:-1]) / 100.0
        except ValueError:
            raise AllocationError(f"budget {resource}={budget!r}: expected a number or a percentage like '60%'") from None
        return fraction * total_cost(problem, resource, max)
    if not _finite(budget):
        raise AllocationError(f"budget {resource}={budget!r}: expected a finite number or a percentage like '60%'")
    return float(budget)


def _check_layers(layers) -> frozenset:
    resources = None
    for i, layer in enumerate(layers):
        where = f"layer {i} ({layer.name!r})"
        if not layer.choices:
            raise AllocationError(f"{where} has no choices")
        try:
            if len(set(layer.labels)) != len(layer.labels):
                raise AllocationError(f"{where} lists a choice label twice: {layer.labels}")
        except TypeError:
            raise AllocationError(f"{where}: choice labels must be hashable, got {layer.labels}") from None
        for choice in layer.choices:
            if not _finite(choice.sensitivity):
                raise AllocationError(f"{where} choice {choice.label!r}: sensitivity {choice.sensitivity!r} is not a finite number")
            bad = {r: v for r, v in choice.cost.items() if not _finite(v)}
            if bad:
                raise AllocationError(f"{where} choice {choice.label!r}: costs {bad} are not finite numbers")
            if resources is None:
                resources = frozenset(choice.cost)
            elif frozenset(choice.cost) != resources:
                raise AllocationError(f"{where} choice {choice.label!r} has costs for {sorted(choice.cost)}, "
                                      f"other choices for {sorted(resources)}; every choice must cost every resource")
    return resources


def _check_ties(layers, ties) -> None:
    for tie in ties:
        members = tuple(tie)
        if len(members) < 2 or len(set(members)) != len(members):
            raise AllocationError(f"tie {members}: needs two or more distinct layer indices")
        for i in members:
            if isinstance(i, bool) or not isinstance(i, numbers.Integral) or not 0 <= i < len(layers):
                raise AllocationError(f"tie {members}: {i!r} is not a layer index (0..{len(layers) - 1})")
        first = layers[members[0]]
        for i in members[1:]:
            if set(layers[i].labels) != set(first.labels):
                raise AllocationError(f"tie {members}: layer {i} ({layers[i].name!r}) offers {layers[i].labels}, "
                                      f"layer {members[0]} ({first.name!r}) offers {first.labels}; tied layers need the same labels")


def _finite(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)
