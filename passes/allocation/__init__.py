"""Bit allocation: choose one option (bit width, format, codebook) per layer to minimise
summed sensitivity within resource budgets, exactly, with an ILP."""
from . import allocate, search  # noqa: F401  (registers allocate-bits and search)
from .errors import AllocationError, InfeasibleBudget
from .ilp import Allocation, smallest_budgets, solve
from .pareto import ParetoFront, pareto_front
from .problem import AllocationProblem, Choice, LayerOptions, relative_budget, total_cost

__all__ = ["AllocationError", "InfeasibleBudget", "Allocation", "solve", "smallest_budgets", "ParetoFront",
           "pareto_front", "AllocationProblem", "Choice", "LayerOptions", "relative_budget", "total_cost"]
