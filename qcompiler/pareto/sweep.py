"""`accuracy_pareto`: sweep one resource budget of the bit allocator and measure what
every allocation costs in accuracy.

    result = accuracy_pareto(model, target="armv8", calibration=x_train, validation=(x_val, y_val),
                             resource="size", steps=6)
    print(result.table()); result.choose(min_accuracy=0.97); result.plot("front.png")

The model runs through the target's pipeline (or `pipeline`) up to `quantize`, then
`sensitivity{metric=...}` scores every layer once. Per budget, the problem allocate-bits
would solve (passes/allocation/layer_options.py) is solved exactly (the sweep of
passes/allocation/pareto.py). Each distinct allocation is written onto a copy of the
graph, its weight ranges are measured again at their widths (calibrate-weights, with
the calibration's method, as the sensitivity metrics assume), the rest of the pipeline
up to `lower` quantizes it, and the torch executor measures the fake-quant graph on the
validation data (validation.py). Size, BOPs and latency are the allocator's own costs
(passes/allocation/costs.py): the layers' weight bytes, MACs × w × a, the target's roofline.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..ir.clone import clone
from ..ir.core import Graph
from ..model.loading import load_model
from ..passes.allocation.budgets import parse_budget
from ..passes.allocation.costs import RESOURCES
from ..passes.allocation.layer_options import allocation_problem, write_choices
from ..passes.allocation.pareto import pareto_front
from ..passes.allocation.problem import total_cost
from ..passes.quantize.choices import WEIGHT_STORAGE
from ..passes.sensitivity.layers import quantizable_layers
from ..passmanager import PassContext, Progress, parse_pipeline, run_pipeline
from ..pipelines import names, split, to_string
from ..targets import get_target
from .result import ParetoError, ParetoResult, SweepPoint
from .validation import ValidationSet, inputs_and_labels

ALLOCATING_PASSES = ("sensitivity", "allocate-bits", "search")


def accuracy_pareto(model: Any, *, target: str = "generic", calibration: Any, validation: tuple,
                    resource: str = "size", budgets: Sequence | None = None, steps: int = 11,
                    choices: Sequence[int] = (2, 4, 8), metric: str = "hessian", samples: int = 256,
                    pipeline: Any = None, example_inputs: Any = None, seed: int = 0,
                    progress: bool = False, dynamic_dims: Any = None) -> ParetoResult:
    """Sweep `resource` (size | bops | latency) over `budgets` (numbers in bytes / bit-ops /
    ns, with units like "12KB" or "3us", or "60%" of the all-widest cost; default: `steps`
    budgets from the cheapest allocation to the costliest) and measure each allocation on
    `validation` = (inputs, labels). `calibration` feeds calibrate and sensitivity (labels
    in (inputs, labels) batches give sensitivity the task loss). A torch model is traced
    on `example_inputs`, by default the first validation sample, symbolic in `dynamic_dims`
    (as in qcompiler.compile); a Graph is not changed."""
    chosen_target = get_target(target)
    widths = _checked_options(resource, budgets, steps, choices)
    before, after = _split_at_quantize(pipeline if pipeline is not None else chosen_target.default_pipeline)
    sensitivity = f"sensitivity{{metric={metric},bits=[{','.join(map(str, widths))}],samples={samples}}}"
    parse_pipeline(before + [sensitivity])  # bad options fail before any work

    inputs, _ = inputs_and_labels(validation)
    example = example_inputs if example_inputs is not None else _first_sample(inputs)
    graph = load_model(clone(model) if isinstance(model, Graph) else model, example, dynamic_batch=True,
                       dynamic_dims=dynamic_dims)
    ctx = PassContext(target=chosen_target, calibration=calibration, seed=seed, progress=Progress(progress))
    run_pipeline(graph, before, ctx)
    data = ValidationSet(graph, validation)
    reference = data.score(graph)
    run_pipeline(graph, sensitivity, ctx)
    layers = quantizable_layers(graph)
    if not layers:
        raise ParetoError(f"graph @{graph.name} has no layer with constant float weights: no bits to allocate")

    problem = allocation_problem(graph, layers, chosen_target, widths, None, {}, reader="accuracy_pareto")
    absolute = None if budgets is None else [_absolute(problem, resource, b) for b in budgets]
    sweep = pareto_front(problem, resource, absolute, steps)
    recalibrate = _weight_recalibration(layers)
    lowered = names(after).index("lower") if "lower" in names(after) else len(after)
    evaluated = [recalibrate] + after[:lowered]  # the fake-quant graph is what the torch executor runs
    measured: dict = {}
    points = []
    for solved in ctx.progress.iterate(sweep.solved, desc="pareto", total=len(sweep.solved)):
        allocation = solved.allocation
        if allocation.choices not in measured:
            measured[allocation.choices] = data.score(_quantized(graph, allocation, evaluated, ctx))
        score = measured[allocation.choices]
        points.append(SweepPoint(solved.budget, allocation.as_dict(), allocation.costs["size"], allocation.costs["bops"],
                                 allocation.costs["latency"], allocation.objective, score.accuracy, score.loss))
    return ParetoResult(chosen_target.name, resource, metric, tuple(layer.name for layer in layers), tuple(points),
                        reference, (to_string(before + [sensitivity]), to_string([recalibrate] + after)), widths)


def _checked_options(resource: str, budgets, steps: int, choices) -> tuple:
    if resource not in RESOURCES:
        raise ParetoError(f"resource={resource!r}: expected one of {', '.join(RESOURCES)}")
    if budgets is None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 2):
        raise ParetoError(f"steps={steps!r}: the sweep needs at least 2 budgets")
    if budgets is not None:
        if not len(budgets):
            raise ParetoError("budgets is empty")
        for budget in budgets:
            parse_budget(resource, budget)
    widths = tuple(sorted(set(choices)))
    if not widths or any(b not in WEIGHT_STORAGE for b in widths):
        raise ParetoError(f"choices={list(choices)}: weight widths must be among {sorted(WEIGHT_STORAGE)}")
    return widths


def _split_at_quantize(pipeline) -> tuple:
    """(passes before `quantize`, `quantize` and the passes after it)."""
    items = split(pipeline)
    present = names(items)
    if "quantize" not in present:
        raise ParetoError(f"the pipeline has no quantize pass ({', '.join(present) or 'no passes'}): "
                          "nothing would take the allocated widths")
    at = present.index("quantize")
    allocating = [name for name in present[:at] if name in ALLOCATING_PASSES]
    if allocating:
        raise ParetoError(f"the pipeline already runs {', '.join(allocating)}; the sweep adds sensitivity and "
                          "the allocation itself, give the pipeline without them")
    return items[:at], items[at:]


def _absolute(problem, resource: str, budget) -> float:
    value = parse_budget(resource, budget)
    if isinstance(value, str):  # "N%" of the cost with every layer at its widest choice
        return float(value[:-1]) / 100.0 * total_cost(problem, resource, max)
    return value


def _first_sample(inputs) -> tuple | None:
    """The first validation sample as torch tensors, to trace a torch model on (None for
    inputs given by name: their order is the model's to tell)."""
    if isinstance(inputs, Mapping):
        return None
    import torch

    items = inputs if isinstance(inputs, (tuple, list)) else (inputs,)
    return tuple(x[:1] if hasattr(x, "detach") else torch.from_numpy(np.ascontiguousarray(x[:1])) for x in items)


def _weight_recalibration(layers: list) -> str:
    """calibrate-weights with the method and granularity the pipeline calibrated the
    weights with, so that each weight's range is measured for its allocated width."""
    weight = layers[0].weights[0].weight.producer
    recorded = weight.attrs.get("q.range")
    per_tensor = recorded is not None and np.shape(getattr(recorded, "array", recorded)) == (2,)
    return (f"calibrate-weights{{method={weight.attrs.get('q.method', 'minmax')},"
            f"granularity={'tensor' if per_tensor else 'channel'}}}")


def _quantized(graph: Graph, allocation, passes: list, ctx: PassContext) -> Graph:
    """A copy of the calibrated graph with `allocation`'s widths, quantized by `passes`."""
    copy = clone(graph)
    layers = quantizable_layers(copy)
    widths = allocation.as_dict()
    write_choices(layers, [widths[layer.name] for layer in layers], False)
    run_pipeline(copy, passes, PassContext(target=ctx.target, calibration=ctx.calibration, seed=ctx.seed))
    return copy
