"""NNCF's accuracy-control search: keep layers float in ranked order, re-validating after
each, until the drop is within bounds; then try giving back every kept layer but the
last (a layer ranked high may have been harmless once a later one was float)."""
from __future__ import annotations

from dataclasses import dataclass

from .trials import Trials


@dataclass(frozen=True)
class Outcome:
    quantized_score: float  # every candidate layer quantized
    score: float            # with `kept` float
    kept: tuple             # layers kept float, in ranked order
    reached: bool


def search(trials: Trials, ranked: list, float_score: float, max_drop: float, progress) -> Outcome:
    base = trials.score(())
    if float_score - base <= max_drop:
        return Outcome(base, base, (), True)
    best, kept = (base, ()), []
    for name in progress.iterate(ranked, desc="accuracy-control: keeping layers float"):
        kept.append(name)
        score = trials.score(kept)
        if score > best[0]:
            best = (score, tuple(kept))
        if float_score - score <= max_drop:
            return Outcome(base, *_pruned(trials, kept, float_score, max_drop, progress), True)
    return Outcome(base, best[0], best[1], False)


def _pruned(trials: Trials, kept: list, float_score: float, max_drop: float, progress) -> tuple:
    """(score, kept) after dropping every layer the bound holds without."""
    kept = list(kept)
    score = trials.score(kept)
    for name in progress.iterate(kept[:-1], desc="accuracy-control: giving layers back"):
        fewer = [k for k in kept if k != name]
        fewer_score = trials.score(fewer)
        if float_score - fewer_score <= max_drop:
            kept, score = fewer, fewer_score
    return score, tuple(kept)
