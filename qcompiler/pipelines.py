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

from .passmanager import Pass, PipelineError, _split_top, get_pass, parse_pipeline
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


def with_bit_allocation(pipeline: Pipeline, budgets: dict, metric: str = "hessian", choices: tuple = ()) -> list:
    """`pipeline` with mixed precision before its `quantize`: `sensitivity{metric=...}`,
    `allocate-bits` within `budgets` ({"size": "60%", "bops": "2G", ...}, as
    allocate-bits' `budget.` options take them) over the weight widths `choices` (default:
    the passes' own menu), measured at those widths; and, when the pipeline calibrates,
    `calibrate-weights` with the calibrate pass's weight method, so each weight's range
    is the one for the width it was given (ranges for 8 bits cost 2-bit layers dearly)."""
    items = split(pipeline)
    menu = f"[{','.join(map(str, choices))}]"
    allocate = "allocate-bits{" + ",".join([f"budget.{r}={v}" for r, v in budgets.items()]
                                           + ([f"choices={menu}"] if choices else [])) + "}"
    added = [f"sensitivity{{metric={metric}{f',bits={menu}' if choices else ''}}}", allocate]
    calibrate = next((item for item in items if pass_name(item) == "calibrate"), None)
    if calibrate is not None:
        calibrate = parse_pipeline([calibrate])[0]
        added.append(f"calibrate-weights{{method={calibrate.resolved_weight_method},"
                     f"granularity={calibrate.granularity},percentile={calibrate.percentile}}}")
    return insert_before(items, "quantize", *added)


def with_accuracy_control(pipeline: Pipeline, max_drop: float = 0.01, **options) -> list:
    """`pipeline` with `accuracy-control` right before its `quantize`, its trials running the
    pipeline's own passes from `quantize` up to `lower` (options: see the pass)."""
    items = split(pipeline)
    start = _position(items, "quantize")
    end = next((i for i in range(start, len(items)) if pass_name(items[i]) == "lower"), len(items))
    return insert_before(items, "quantize", get_pass("accuracy-control")(max_drop=max_drop, trial=items[start:end],
                                                                     **options))
