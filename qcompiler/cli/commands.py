"""The `qcompiler` command: compile, demo, opt, inspect, pareto, bench."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..atomic_write import atomic_directory, atomic_file, check_writable
from ..ir.errors import QIRError
from ..targets import available_targets, get_target
from .bench import add_bench_parser
from .export_args import add_export_args, channels_last, check_export_args
from .model_args import UsageError, add_model_args, example_input, parse_dynamic_dims
from .pareto import add_pareto_parser, load_calibration


def _load(args):
    from ..model.loading import load_model

    example = example_input(args.model, args.input_shape)
    return load_model(args.model, None if example is None else (example,),
                      dynamic_dims=parse_dynamic_dims(args.dynamic_dim))


def _pipeline_option(text):
    if text is not None and not text.strip():
        raise UsageError("-p '': the pipeline names no pass (leave -p out for the target's default pipeline)")
    return text


def cmd_opt(args) -> int:
    from ..instruments import DumpIR, TimePasses, VerifyEach
    from ..ir.printer import print_graph
    from ..ir.serialize import save_qir
    from ..passmanager import PassContext, PassManager

    if args.output:
        check_writable(args.output, what="-o")
    pipeline = _pipeline_option(args.pipeline)
    graph = _load(args)
    instruments = [VerifyEach()]
    timer = TimePasses() if args.time_passes else None
    if timer:
        instruments.append(timer)
    if args.dump_ir:
        instruments.append(DumpIR(args.dump_ir))
    ctx = PassContext(seed=args.seed)
    PassManager(pipeline, instruments).run(graph, ctx)
    for d in ctx.diagnostics:
        print(d, file=sys.stderr)
    if args.output:
        save_qir(graph, args.output)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(print_graph(graph))
    if timer:
        print(timer.table(), file=sys.stderr)
    return 0


def cmd_inspect(args) -> int:
    from ..ir.graphviz import save_svg, to_dot

    graph = _load(args)
    consts = [n for n in graph.nodes if n.op == "const"]
    params = sum(n.output.type.numel() or 0 for n in consts if n.attrs.get("origin"))
    print(f"graph @{graph.name}: {len(graph.inputs)} inputs, {len(graph.outputs)} outputs, "
          f"{len(graph.nodes) - len(consts)} ops, {len(consts)} constants, {params:,} parameters")
    for v in graph.inputs:
        print(f"  input  %{v.name}: {_fmt(v.type)}")
    for v in graph.outputs:
        print(f"  output %{v.name}: {_fmt(v.type)}")
    print("op counts:")
    for op, n in graph.op_counts().items():
        if op != "const":
            print(f"  {op:24s} {n}")
    opaque = sorted({n.op for n in graph.nodes if n.op.startswith("onnx.")})
    print("opaque ops (run through onnxruntime): " + (", ".join(opaque) if opaque else "none"))
    if args.dot:
        with atomic_file(args.dot) as partial:
            partial.write_text(to_dot(graph))
        print(f"wrote {args.dot}")
    if args.svg:
        save_svg(graph, args.svg)
        print(f"wrote {args.svg}")
    return 0


def _budgets(texts) -> dict:
    """`--budget size=60%` flags -> {"size": "60%"}, each checked as allocate-bits checks it."""
    from ..passes.allocation.budgets import parse_budget

    budgets: dict = {}
    for text in texts or ():
        resource, sep, value = text.partition("=")
        resource, value = resource.strip(), value.strip()
        if not sep or not value:
            raise UsageError(f"--budget {text!r}: expected RESOURCE=VALUE, e.g. size=60%, bops=2G, latency=3ms")
        if resource in budgets:
            raise UsageError(f"--budget {resource} is given twice")
        try:
            parse_budget(resource, value)
        except QIRError as e:
            raise UsageError(f"--budget {text!r}: {e}") from None
        budgets[resource] = value
    return budgets


def cmd_compile(args) -> int:
    from ..api import compile
    from ..passmanager import parse_pipeline
    from ..pipelines import names, with_bit_allocation
    from ..model.saving import check_save_directory

    # paths, target and pipeline are checked before, not after, compiling
    check_save_directory(args.output)
    check_writable(args.output, directory=True, what="-o")
    if args.export_onnx:
        check_writable(args.export_onnx, what="--export-onnx")
    if args.report:
        check_writable(args.report, what="--report")
    check_export_args(args)
    pipeline = _pipeline_option(args.pipeline)
    pipeline = pipeline if pipeline is not None else get_target(args.target).default_pipeline
    budgets = _budgets(args.budget)
    if budgets:
        pipeline = with_bit_allocation(pipeline, budgets, args.sensitivity)
    parse_pipeline(pipeline)  # unknown passes, options and targets: before the data is read
    if not args.calib and "calibrate" in names(pipeline):
        raise UsageError("the pipeline calibrates: give calibration samples with --calib DATA.npy|DATA.npz")
    if not args.calib and budgets:
        raise UsageError("--budget measures layer sensitivities on data: give samples with --calib DATA.npy|DATA.npz")
    example = example_input(args.model, args.input_shape)
    calibration = load_calibration(args.calib) if args.calib else None
    if example is None and isinstance(calibration, list):  # (inputs, labels) batches: trace on the first sample
        example = calibration[0][0][:1]
    cm = compile(args.model, target=args.target, example_inputs=example, calibration=calibration,
                 pipeline=pipeline, dump_ir=args.dump_ir, seed=args.seed, progress=sys.stderr.isatty(),
                 dynamic_dims=parse_dynamic_dims(args.dynamic_dim))
    if args.export_onnx:  # both or neither: the export (and a data file) moves into place once the save succeeded
        export = Path(args.export_onnx)
        with atomic_directory(export.parent, marker=export.name) as partial:
            cm.export_onnx(partial / export.name, form=args.onnx_form, opset=args.export_opset,
                           channels_last=channels_last(args))
            cm.save(args.output)
        print(f"wrote {args.output}\nwrote {args.export_onnx} ({args.onnx_form} form)", file=sys.stderr)
    else:
        cm.save(args.output)
        print(f"wrote {args.output}", file=sys.stderr)
    rep = cm.report()
    print(rep)
    if args.report:
        from ..report.html import write_html

        write_html(rep, cm.pass_log, path=args.report)
        print(f"wrote {args.report}", file=sys.stderr)
    return 0


def cmd_demo(args) -> int:
    from .demo import run_demo

    run_demo(sys.stdout, progress=sys.stderr.isatty())
    return 0


def _fmt(t) -> str:
    from ..ir.printer import format_type

    return format_type(t)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qcompiler", description="qcompiler: a quantization compiler")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("compile", help="quantize a model for a target, save it and print the report",
                       description="Import MODEL, calibrate it on DATA, quantize and lower it for TARGET; save the "
                                   "compiled model into OUTDIR (load it with qcompiler.load) and print the report.")
    add_model_args(p)
    p.add_argument("--target", default="generic", help=f"one of: {', '.join(available_targets())} (default: generic)")
    p.add_argument("--calib", metavar="DATA", help="calibration samples: a .npy array [N, ...] or a .npz of arrays "
                                                   "by input name (a torch model is traced on the first sample); "
                                                   "an array named 'labels' next to a single input gives "
                                                   "--budget's sensitivity the task loss")
    p.add_argument("-o", "--output", metavar="OUTDIR", required=True, help="directory for the compiled model")
    p.add_argument("-p", "--pipeline", help="passes to run instead of the target's default pipeline")
    p.add_argument("--budget", action="append", metavar="RESOURCE=VALUE",
                   help="mixed precision: choose a weight width per layer (2, 4 or 8 bits) within this budget, "
                        "e.g. size=60%% (of all-8-bit), size=0.5MB, bops=2G, latency=3ms; repeat for several. "
                        "Inserts sensitivity and allocate-bits before quantize")
    p.add_argument("--sensitivity", default="hessian", metavar="METRIC",
                   help="how --budget measures layer sensitivity: hessian (default), fisher, bit-gradient, "
                        "orthogonality, or sqnr (for models with ops that run in ONNX Runtime)")
    add_export_args(p)
    p.add_argument("--dump-ir", metavar="DIR", help="write the IR before and after every pass into DIR")
    p.add_argument("--report", metavar="PATH.html", help="also write the report as one self-contained HTML page "
                                                          "(plots, pass timings, IR diffs between passes)")
    p.add_argument("--seed", type=int, default=0, help="seed of the pass context's RNG")
    p.set_defaults(func=cmd_compile)

    p = sub.add_parser("demo", help="compile the bundled digits CNN for armv8 and compare accuracies",
                       description="Compile the bundled digits CNN for armv8 (calibrated on the digits training "
                                   "split), print its report and the test accuracy of fp32 torch, the int8 Numba "
                                   "backend and the int8 ONNX export in ONNX Runtime.")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("opt", help="run a pass pipeline over a model and print or save the IR",
                       description="Import MODEL, run PIPELINE over it and print the resulting IR (or save it with -o).")
    add_model_args(p)
    p.add_argument("-p", "--pipeline", required=True, help='passes, e.g. "canonicalize,fold-bn,fuse-activations,dce"')
    p.add_argument("-o", "--output", help="write the IR to this .qir file (+ .npz of constants)")
    p.add_argument("--dump-ir", metavar="DIR", help="write the IR before and after every pass into DIR")
    p.add_argument("--time-passes", action="store_true", help="print a table of time spent per pass")
    p.add_argument("--seed", type=int, default=0, help="seed of the pass context's RNG")
    p.set_defaults(func=cmd_opt)

    p = sub.add_parser("inspect", help="op counts, parameters, opaque ops and a picture of a model",
                       description="Summarize MODEL: inputs/outputs, op counts, parameters, opaque ops; optionally draw it.")
    add_model_args(p)
    p.add_argument("--dot", help="write the graph as Graphviz DOT to this file")
    p.add_argument("--svg", help="draw the graph to this SVG file")
    p.set_defaults(func=cmd_inspect)

    add_pareto_parser(sub)
    add_bench_parser(sub)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (QIRError, OSError) as e:
        print(f"qcompiler {args.command}: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
