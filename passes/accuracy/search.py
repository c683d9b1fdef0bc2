"""NNCF's accuracy-control search: keep layers float in ranked order until the judge says
the drop is within bounds, then try giving back every kept layer but the last (a layer
ranked high may be harmless once a later one is float).

The shortest sufficient prefix of the ranking is found by doubling its length and then
bisecting (log2 trials instead of one per layer on a model of hundreds of layers); this
assumes keeping more layers float does not lose accuracy, which the giving back step
does not rely on. The judge (significance.py) decides what is within bounds, so neither
step acts on a difference the validation set cannot resolve."""
from __future__ import annotations

from dataclasses import dataclass

from .significance import Judge
from .trials import Trials
from .validation import Score


@dataclass(frozen=True)
class Outcome:
    quantized: Score  # every candidate layer quantized
    score: Score      # with `kept` float
    kept: tuple       # layers kept float, in ranked order
    reached: bool


def search(trials: Trials, ranked: list, judge: Judge, progress) -> Outcome:
    base = trials.score(())
    if judge.within(base):
        return Outcome(base, base, (), True)
    length = _shortest_prefix(trials, ranked, judge)
    if length is None:
        best = max(trials.scores.items(), key=lambda item: (item[1].value, -len(item[0])))
        return Outcome(base, best[1], tuple(name for name in ranked if name in best[0]), False)
    return Outcome(base, *_given_back(trials, ranked[:length], judge, progress), True)


def _shortest_prefix(trials: Trials, ranked: list, judge: Judge):
    """The fewest leading layers of `ranked` that bring the drop within bounds, or None."""
    def within(n: int) -> bool:
        return judge.within(trials.score(ranked[:n]))

    low, high = 0, 1  # within(low) is false
    while high < len(ranked) and not within(high):
        low, high = high, min(2 * high, len(ranked))
    if not ranked or not within(high):
        return None
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if within(middle) else (middle, high)
    return high


def _given_back(trials: Trials, kept: list, judge: Judge, progress) -> tuple:
    """(score, kept) after giving back every layer the bound holds without. Layers are
    offered in chunks, halved where a chunk cannot go back whole (ddmin's splitting): a
    sufficient prefix of a hundred layers that needs a few of them costs tens of trials,
    not one per layer."""
    kept, queue = list(kept), [kept[:-1]]

    def offered():
        while queue:
            yield queue.pop(0)

    for chunk in progress.iterate(offered(), desc="accuracy-control: giving layers back"):
        fewer = [k for k in kept if k not in chunk]
        if judge.within(trials.score(fewer)):
            kept = fewer
        elif len(chunk) > 1:
            queue[:0] = [chunk[:len(chunk) // 2], chunk[len(chunk) // 2:]]
    return trials.score(kept), tuple(kept)
