"""Malformed allocation problems fail with an AllocationError naming the culprit; budget helpers."""
import math

import numpy as np
import pytest

from qcompiler.ir.errors import QIRError
from qcompiler.passes.allocation import (AllocationError, AllocationProblem, Choice, LayerOptions, relative_budget,
                                         solve, total_cost)


def layer(name="conv", labels=(4, 8), **cost):
    return LayerOptions(name, [Choice(b, 1.0 / b, {"size": cost.get("size", b), "lat": 1.0}) for b in labels])


@pytest.mark.parametrize("build, message", [
    (lambda: AllocationProblem([]), "no layers"),
    (lambda: AllocationProblem([LayerOptions("empty", [])]), "layer 0 ('empty') has no choices"),
    (lambda: AllocationProblem([layer("dup", (4, 4))]), "layer 0 ('dup') lists a choice label twice"),
    (lambda: AllocationProblem([LayerOptions("l", [Choice([4], 0.0, {})])]), "labels must be hashable"),
    (lambda: AllocationProblem([LayerOptions("l", [Choice(4, math.nan, {})])]), "choice 4: sensitivity nan"),
    (lambda: AllocationProblem([LayerOptions("l", [Choice(4, 0.0, {"size": math.inf})])]), "costs {'size': inf}"),
    (lambda: AllocationProblem([LayerOptions("l", [Choice(4, 0.0, {"size": 1}), Choice(8, 0.0, {"lat": 1})])]),
     "choice 8 has costs for ['lat'], other choices for ['size']"),
    (lambda: AllocationProblem([layer()], {"bops": 1.0}), "budget names resource 'bops'"),
    (lambda: AllocationProblem([layer()], {"size": "half"}), "budget size='half'"),
    (lambda: AllocationProblem([layer()], {"size": None}), "budget size=None"),
    (lambda: AllocationProblem([layer(), layer()], {}, [(0,)]), "tie (0,): needs two or more"),
    (lambda: AllocationProblem([layer(), layer()], {}, [(0, 2)]), "tie (0, 2): 2 is not a layer index"),
    (lambda: AllocationProblem([layer("a"), layer("b", (2, 4))], {}, [(0, 1)]),
     "layer 1 ('b') offers [2, 4], layer 0 ('a') offers [4, 8]"),
])
def test_malformed_problem_is_named(build, message):
    with pytest.raises(AllocationError) as err:
        build()
    assert isinstance(err.value, QIRError)
    assert message in str(err.value)


def test_tied_layers_may_list_the_same_labels_in_another_order():
    layers = [layer("a", (4, 8)), layer("b", (8, 4))]
    assert solve(AllocationProblem(layers, {"size": 12})).choices in {(8, 4), (4, 8)}  # untied, the budget fits one 8
    assert solve(AllocationProblem(layers, {"size": 12}, [(np.int64(0), 1)])).choices == (4, 4)


def test_budget_helpers():
    problem = AllocationProblem([layer("a", (2, 4, 8)), layer("b", (4, 8))], {"size": "50%", "lat": np.float32(3.0)})
    assert total_cost(problem, "size", min) == 6 and total_cost(problem, "size") == 16
    assert relative_budget(problem, "size", 0.0) == 6 and relative_budget(problem, "size", 0.25) == 8.5
    assert relative_budget(problem, "size", 1.0) == 16
    assert problem.limits == {"size": 8.0, "lat": 3.0}
    with pytest.raises(AllocationError, match="no cost 'bops': the layers' costs only have \\['lat', 'size'\\]"):
        relative_budget(problem, "bops", 0.5)
