"""Budget values as `allocate-bits` takes them: "60%" (of the cost with every layer at its
costliest choice, passed on to the problem), a plain number in the resource's base unit
(bytes, bit-operations, nanoseconds), or a number with a unit: "0.5MB", "512KiB",
"2.5G" bit-ops, "3ms"."""
from __future__ import annotations

import numbers
import re

from .errors import AllocationError

UNITS = {
    "size": {"": 1, "b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "kib": 2**10, "mib": 2**20, "gib": 2**30},
    "bops": {"": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12},
    "latency": {"": 1, "ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9},
}


class BudgetError(AllocationError, ValueError):
    """A malformed budget option (a ValueError too, so pipelines report it as a PipelineError)."""


_NUMBER_AND_UNIT = re.compile(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([A-Za-z]*)\s*")


def parse_budget(resource: str, value):
    """A float in the base unit, or the "N%" string unchanged."""
    if resource not in UNITS:
        raise BudgetError(f"unknown budget 'budget.{resource}'; budgets: "
                              f"{', '.join('budget.' + r for r in UNITS)}")
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return _positive(resource, value, float(value))
    text = str(value).strip()
    if text.endswith("%"):
        match = _NUMBER_AND_UNIT.fullmatch(text[:-1])
        if not match or match.group(2) or float(match.group(1)) <= 0:
            raise BudgetError(f"budget.{resource}={value!r}: expected a positive percentage like '60%'")
        return text
    match = _NUMBER_AND_UNIT.fullmatch(text)
    unit = match.group(2).lower() if match else None
    if unit not in UNITS[resource]:
        units = ", ".join(u for u in UNITS[resource] if u)
        raise BudgetError(f"budget.{resource}={value!r}: expected a percentage like '60%', a number, "
                              f"or a number with one of the units {units}")
    return _positive(resource, value, float(match.group(1)) * UNITS[resource][unit])


def _positive(resource: str, value, number: float) -> float:
    # a negative or NaN budget would otherwise surface after the sensitivity pass, as an infeasible problem
    if not number > 0 or number == float("inf"):
        raise BudgetError(f"budget.{resource}={value!r}: expected a positive, finite number")
    return number
