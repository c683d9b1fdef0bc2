"""Editing pipelines: start from a target's default and replace, insert or drop passes.

    from qcompiler.pipelines import default_pipeline, insert_after, replace
    p = default_pipeline("armv8")            # ['canonicalize', 'fold-bn', ..., 'lower']
    p = insert_after(p, "fold-bn", "my-pass")
    p = replace(p, "calibrate", "calibrate{method=percentile}")
    qcompiler.compile(model, "armv8", calibration=data, pipeline=p)

A pipeline is a string (`"fold-bn,calibrate{method=mse},quantize"`) or a list whose
items are such strings or Pass instances; the helpers accept either and return a new
list with one pass per item, never changing their argument.
"""
from __future__ import annotations

from typing import Sequence, Union

from .passmanager import Pass, PipelineError, _split_top
from .targets import Target, get_target

Pipeline = Union[str, Sequence]


def default_pipeline(target: Union[str, Target] = "generic") -> list:
    """The target's default pipeline, one pass spec per item."""
    return split(get_target(target).default_pipeline)


def split(pipeline: Pipeline) -> list:
    """One item per pass: strings are split at their top-level commas (the parser's
    rule, so `calibrate{method=mse,samples=8}` stays one item)."""
    if isinstance(pipeline, str):
        return _split_top(pipeline, ",")
    items = []
    for item in pipeline:
        items.extend(_split_top(item, ",") if isinstance(item, str) else [item])
    return items


def to_string(pipeline: Pipeline) -> str:
    """The pipeline as one line (Pass instances as `name{option=value, ...}`)."""
    return ",".join(item if isinstance(item, str) else item.describe() for item in split(pipeline))


def pass_name(item: Union[str, Pass]) -> str:
    return item.partition("{")[0].strip() if isinstance(item, str) else item.name


def names(pipeline: Pipeline) -> list:
    return [pass_name(item) for item in split(pipeline)]


def insert_after(pipeline: Pipeline, anchor: str, *new) -> list:
    """Insert `new` passes right after the first pass named `anchor`."""
    items = split(pipeline)
    at = _position(items, anchor) + 1
    return items[:at] + split(list(new)) + items[at:]


def insert_before(pipeline: Pipeline, anchor: str, *new) -> list:
    """Insert `new` passes right before the first pass named `anchor`."""
    items = split(pipeline)
    at = _position(items, anchor)
    return items[:at] + split(list(new)) + items[at:]


def replace(pipeline: Pipeline, anchor: str, *new) -> list:
    """Replace the first pass named `anchor` by `new` passes (none: remove it)."""
    items = split(pipeline)
    at = _position(items, anchor)
    return items[:at] + split(list(new)) + items[at + 1:]


def remove(pipeline: Pipeline, anchor: str) -> list:
    return replace(pipeline, anchor)


def _position(items: list, anchor: str) -> int:
    for i, item in enumerate(items):
        if pass_name(item) == anchor:
            return i
    present = ", ".join(pass_name(item) for item in items) or "none"
    raise PipelineError(f"pass '{anchor}' is not in the pipeline (it has: {present})")
