"""The accuracy/cost trade-off of mixed precision: sweep.py compiles one allocation per
budget (the cost-only front is passes/allocation/pareto.py) and measures each on
validation data (validation.py); result.py holds the points, the front, the choice
and the plot."""
