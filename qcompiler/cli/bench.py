"""`qcompiler bench MODEL --targets armv8,x86-vnni,... --calib DATA [--data LABELLED] -o OUT`:
the per-target edge table (qcompiler/cli/edge_bench.py), printed and written as OUT.md and
OUT.json."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from .model_args import UsageError, add_model_args, example_input, parse_dynamic_dims

LABELS = "labels"


def add_bench_parser(sub) -> None:
    from ..targets import available_targets

    p = sub.add_parser("bench", help="per target: size, BOPs, predicted and measured latency, accuracy",
                       description="Compile MODEL for each target and print one row per target: weight size, "
                                   "BOPs, the latency its cost model predicts, the latency measured where this "
                                   "machine runs the target's code (onnxruntime on the export and the Numba "
                                   "backend; other targets say 'predicted'), and the accuracy on --data. Writes "
                                   "OUT.md and OUT.json.")
    add_model_args(p)
    p.add_argument("--targets", required=True, help=f"comma-separated, from: {', '.join(available_targets())}")
    p.add_argument("--calib", metavar="DATA", required=True,
                   help="calibration samples: a .npy array, or a .npz with one input array (and optionally "
                        f"'{LABELS}', ignored here)")
    p.add_argument("--data", metavar="DATA", help=f"a .npz of one input array and '{LABELS}' (class indices): "
                                                  "accuracy, and the latency runs' inputs (else --calib's)")
    p.add_argument("-o", "--output", metavar="OUT", required=True, help="writes OUT.md and OUT.json")
    p.add_argument("--batch", type=int, default=64, help="samples per timed run (default: 64)")
    p.add_argument("--repeats", type=int, default=10, help="timed runs per latency, median taken (default: 10)")
    p.add_argument("--threads", type=int, default=1, help="onnxruntime and Numba threads (default: 1, and the "
                                                          "latency is the CPU time of a run: on a shared machine "
                                                          "wall time includes waiting for a core)")
    p.add_argument("--onnx-form", default="qdq", choices=["qoperator", "qdq", "integer"],
                   help="form of the export onnxruntime times (default: qdq)")
    p.add_argument("--seed", type=int, default=0, help="seed of the pass context's RNG")
    p.set_defaults(func=cmd_bench)


def cmd_bench(args) -> int:
    from ..atomic_write import check_writable
    from ..model.loading import load_model
    from ..targets import get_target
    from .edge_bench import edge_table, to_json, to_markdown, to_text

    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    if not targets:
        raise UsageError(f"--targets {args.targets!r}: name at least one target")
    for name in targets:
        get_target(name)  # an unknown name fails here, naming it, before anything compiles
    for option in ("batch", "repeats", "threads"):
        if getattr(args, option) < 1:
            raise UsageError(f"--{option} must be at least 1, got {getattr(args, option)}")
    out = Path(args.output)
    for suffix in (".md", ".json"):
        check_writable(out.with_suffix(suffix), what="-o")
    calibration = _inputs(args.calib, "--calib")
    inputs, labels = (calibration, None) if args.data is None else _labelled(args.data)
    example = example_input(args.model, args.input_shape)
    graph = load_model(args.model, (calibration[:1],) if example is None else (example,), dynamic_batch=True,
                       dynamic_dims=parse_dynamic_dims(args.dynamic_dim))
    rows = edge_table(graph, targets, calibration, inputs, labels, batch=args.batch, repeats=args.repeats,
                      threads=args.threads, onnx_form=args.onnx_form, seed=args.seed, progress=sys.stderr.isatty())
    print(to_text(rows))
    title = f"qcompiler bench {args.model}"
    out.with_suffix(".md").write_text(to_markdown(rows, title))
    out.with_suffix(".json").write_text(json.dumps({"model": args.model, "rows": to_json(rows)}, indent=1) + "\n")
    print(f"wrote {out.with_suffix('.md')}\nwrote {out.with_suffix('.json')}", file=sys.stderr)
    return 0


def _inputs(path, option: str):
    from ..model.loading import load_arrays

    arrays = load_arrays(path)
    if isinstance(arrays, dict):
        arrays = {k: v for k, v in arrays.items() if k != LABELS}
        if len(arrays) != 1:
            raise UsageError(f"{option} {path}: expected one input array (besides '{LABELS}'), found "
                             f"{len(arrays)} ({', '.join(arrays)})")
        (arrays,) = arrays.values()
    return arrays


def _labelled(path) -> tuple:
    from ..model.loading import load_arrays

    arrays = load_arrays(path)
    if not isinstance(arrays, dict) or LABELS not in arrays:
        raise UsageError(f"--data {path}: needs an array named '{LABELS}' next to the inputs (np.savez(path, "
                         f"x=inputs, {LABELS}=labels))")
    return _inputs(path, "--data"), arrays[LABELS]
