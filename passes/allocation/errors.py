"""Errors of the bit allocator."""
from qcompiler.ir.errors import QIRError


class AllocationError(QIRError):
    """The allocation problem is malformed (names the layer, choice, tie or budget) or the
    solver did not finish."""


class InfeasibleBudget(AllocationError):
    """No allocation meets the budgets. `minimum[resource]` is the smallest budget that
    resource alone could be given (all other budgets removed), and the message states it."""

    def __init__(self, message: str, minimum: dict):
        self.minimum = dict(minimum)
        super().__init__(message)
