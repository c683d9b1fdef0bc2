"""`qcompiler pareto`: sweep a mixed-precision budget, print every allocation with its
size, BOPs, predicted latency and measured accuracy, mark the front and the chosen point,
and draw them (qcompiler/pareto/ does the work)."""
from __future__ import annotations

import sys

from .model_args import UsageError, add_model_args, example_input, parse_dynamic_dims

RESOURCES = ("size", "bops", "latency")  # passes/allocation/costs.py's, not imported: it loads torch
LABELS = "labels"


def add_pareto_parser(sub) -> None:
    from ..targets import available_targets

    p = sub.add_parser("pareto", help="sweep a mixed-precision budget: the accuracy / size / latency front",
                       description="Import MODEL, score its layers' sensitivity once, allocate weight widths for "
                                   "a sweep of budgets on one resource, quantize each allocation and measure it on "
                                   "the validation data; print the table (front points starred, the chosen one "
                                   "marked), the pipeline that compiles the chosen point, and optionally a plot.")
    add_model_args(p)
    p.add_argument("--target", default="generic", help=f"one of: {', '.join(available_targets())} (default: generic)")
    p.add_argument("--calib", metavar="DATA", required=True,
                   help="calibration samples: a .npy array, or a .npz of arrays by input name; an array named "
                        f"'{LABELS}' next to a single input gives the sensitivity metric the task loss")
    p.add_argument("--val", metavar="DATA", required=True,
                   help=f"validation data: a .npz of the inputs (one array, or arrays by input name) and '{LABELS}'")
    p.add_argument("--resource", default="size", choices=RESOURCES, help="the budget swept (default: size)")
    sweep = p.add_mutually_exclusive_group()
    sweep.add_argument("--steps", type=int, default=6,
                       help="budgets evenly from the cheapest allocation to the costliest (default: 6)")
    sweep.add_argument("--budgets", help="comma-separated budgets instead, e.g. 8KB,12KB,60%% or 2G,4G")
    p.add_argument("--choices", default="2,4,8", help="weight widths offered per layer (default: 2,4,8)")
    p.add_argument("--metric", default="hessian", help="sensitivity metric: hessian (default), fisher, "
                                                       "bit-gradient, orthogonality, sqnr")
    p.add_argument("--samples", type=int, default=256, help="calibration samples the sensitivity uses (default: 256)")
    p.add_argument("-p", "--pipeline", help="passes to run instead of the target's default pipeline")
    p.add_argument("--plot", metavar="PNG", help="draw accuracy against size, latency as colour, into this image")
    p.add_argument("--max-size", help="choose within this size, e.g. 12KB")
    p.add_argument("--max-bops", help="choose within these bit-operations, e.g. 2G")
    p.add_argument("--max-latency", help="choose within this predicted latency, e.g. 30us")
    p.add_argument("--min-accuracy", help="choose the cheapest point at least this accurate, e.g. 0.97 or 97%%")
    p.add_argument("--max-loss", type=float, help="choose the cheapest point with at most this validation loss")
    p.add_argument("--seed", type=int, default=0, help="seed of the pass context's RNG")
    p.set_defaults(func=cmd_pareto)


def cmd_pareto(args) -> int:
    from ..pareto.sweep import accuracy_pareto
    from ..pareto.result import ParetoError

    limits = _limits(args)
    calibration = load_calibration(args.calib)
    validation = _validation(args.val)
    example = example_input(args.model, args.input_shape)
    budgets = args.budgets.split(",") if args.budgets else None
    result = accuracy_pareto(args.model, target=args.target, calibration=calibration, validation=validation,
                             resource=args.resource, budgets=budgets, steps=args.steps, choices=_widths(args.choices),
                             metric=args.metric, samples=args.samples, pipeline=args.pipeline,
                             example_inputs=example, seed=args.seed, progress=sys.stderr.isatty(),
                             dynamic_dims=parse_dynamic_dims(args.dynamic_dim))
    unmet = None
    try:
        result.choose(**limits)
    except ParetoError as e:
        unmet = e
    print(result.table())
    if args.plot:
        result.plot(args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)
    if unmet is not None:
        raise unmet
    print(f"chosen: {result.chosen.mix()} bits, size {result.chosen.size:g} B")
    print(f"pipeline: {result.pipeline()}")
    return 0


def _limits(args) -> dict:
    from ..passes.allocation.budgets import parse_budget

    limits = {}
    for resource in RESOURCES:
        text = getattr(args, f"max_{resource}")
        if text is not None:
            value = parse_budget(resource, text)
            if isinstance(value, str):
                raise UsageError(f"--max-{resource} {text!r}: give an absolute value, not a percentage")
            limits[f"max_{resource}"] = value
    if args.min_accuracy is not None:
        text = args.min_accuracy.strip()
        try:
            value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
        except ValueError:
            value = -1.0
        if not 0.0 <= value <= 1.0:
            raise UsageError(f"--min-accuracy {args.min_accuracy!r}: expected a fraction like 0.97 or a percentage like 97%")
        limits["min_accuracy"] = value
    if args.max_loss is not None:
        limits["max_loss"] = args.max_loss
    return limits


def _widths(text: str) -> tuple:

    try:
        return tuple(int(b) for b in text.split(","))
    except ValueError:
        raise UsageError(f"--choices {text!r}: expected comma-separated bit widths like 2,4,8") from None


def load_calibration(path):
    """The samples, or (inputs, labels) batches when the file carries labels (the
    sensitivity pass then measures the task loss; `compile` reads --calib the same way,
    so a pipeline printed here compiles to the same allocation)."""
    from ..model.loading import load_arrays

    arrays = load_arrays(path)
    if not isinstance(arrays, dict) or LABELS not in arrays:
        return arrays
    labels = arrays.pop(LABELS)
    if len(arrays) != 1:
        raise UsageError(f"--calib {path}: '{LABELS}' can go with one input array, the file has "
                         f"{len(arrays)} ({', '.join(arrays)})")
    (x,) = arrays.values()
    return [(x[i:i + 64], labels[i:i + 64]) for i in range(0, len(x), 64)]


def _validation(path) -> tuple:
    from ..model.loading import load_arrays

    arrays = load_arrays(path)
    if not isinstance(arrays, dict) or LABELS not in arrays:
        raise UsageError(f"--val {path}: needs an array named '{LABELS}' next to the inputs (np.savez(path, "
                         f"x=inputs, {LABELS}=labels))")
    labels = arrays.pop(LABELS)
    if not arrays:
        raise UsageError(f"--val {path}: holds '{LABELS}' but no inputs")
    return (next(iter(arrays.values())) if len(arrays) == 1 else arrays), labels
