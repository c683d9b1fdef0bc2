"""search{storage=URL, study=NAME}: processes share one Optuna study in an RDB (SQLite
here; PostgreSQL is the same URL form), each runs its own trials, and the answer is the
best of the whole study, never over budget; a study made for another problem is refused."""
import json
import subprocess
import sys
import textwrap

import optuna
import pytest

from qcompiler.passes.allocation.bayes import tpe_search
from qcompiler.passes.allocation.errors import AllocationError
from qcompiler.passes.allocation.problem import AllocationProblem, Choice, LayerOptions

# one process's search of a 6-layer problem: the loss falls with width, the size budget
# forbids all-8; prints the best choices and value, and the trial numbers it ran
SEARCH = textwrap.dedent("""
    import json, sys
    from qcompiler.passes.allocation.bayes import tpe_search
    from qcompiler.passes.allocation.problem import AllocationProblem, Choice, LayerOptions
    weights = [3.0, 1.0, 2.0, 5.0, 1.0, 4.0]
    layers = [LayerOptions(f"l{i}", [Choice(b, 0.0, {"size": float(b)}) for b in (2, 4, 8)]) for i in range(6)]
    problem = AllocationProblem(layers, {"size": 30.0})
    loss = lambda choices: sum(w * (8 - b) ** 2 for w, b in zip(weights, choices))
    result = tpe_search(problem, loss, (4, 4, 4, 4, 4, 4), trials=int(sys.argv[2]), seed=int(sys.argv[3]),
                        storage=sys.argv[1], study_name="widths")
    print(json.dumps({"choices": list(result.best.choices), "value": result.best.value,
                      "numbers": [t.number for t in result.trials]}))
""")


def search(url: str, trials: int, seed: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", SEARCH, url, str(trials), str(seed)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finished(process: subprocess.Popen) -> tuple:
    """(best choices, best value, trial numbers it ran) of a search process."""
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    result = json.loads(out)
    return tuple(result["choices"]), result["value"], result["numbers"]


def test_two_processes_share_one_sqlite_study_and_a_third_gets_its_best(tmp_path):
    url = f"sqlite:///{tmp_path / 'search.db'}"
    first, second = search(url, 12, 1), search(url, 12, 2)
    runs = [finished(first), finished(second)]
    study = optuna.load_study(study_name="widths", storage=url)
    assert len(study.trials) == 24
    numbers = sorted(n for _, _, ns in runs for n in ns)
    assert numbers == list(range(24))  # every trial of the study ran in one of the two processes
    for choices, value, _ in runs:
        assert sum(choices) <= 30.0
    complete = [t.value for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    layers = [LayerOptions(f"l{i}", [Choice(b, 0.0, {"size": float(b)}) for b in (2, 4, 8)]) for i in range(6)]
    third = tpe_search(AllocationProblem(layers, {"size": 30.0}), lambda c: sum(w * (8 - b) ** 2 for w, b in
                       zip([3.0, 1.0, 2.0, 5.0, 1.0, 4.0], c)), (4,) * 6, trials=1, seed=3, storage=url,
                       study_name="widths")
    assert third.best.value == min(complete) and sum(third.best.choices) <= 30.0
    assert [t.number for t in third.trials] == [24]


def test_a_study_made_for_another_problem_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'other.db'}"
    layers = [LayerOptions(f"l{i}", [Choice(b, 0.0, {"size": float(b)}) for b in (2, 4, 8)]) for i in range(3)]
    tpe_search(AllocationProblem(layers, {"size": 14.0}), sum, (2, 2, 2), trials=2, seed=0, storage=url,
               study_name="s")
    with pytest.raises(AllocationError, match="study 's' in .* was made for another problem"):
        tpe_search(AllocationProblem(layers, {"size": 20.0}), sum, (2, 2, 2), trials=2, seed=0, storage=url,
                   study_name="s")
    with pytest.raises(AllocationError, match="cannot open the study"):
        tpe_search(AllocationProblem(layers, {"size": 20.0}), sum, (2, 2, 2), trials=2, seed=0,
                   storage="nosuchdb://x", study_name="s")
