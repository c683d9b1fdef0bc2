"""What compiling a BERT-size encoder costs: compile time per pass, `report()`, and a Numba
call, on the torch and the ONNX (legacy / dynamo exporter) paths, with each path's peak RSS.

    python bench/transformer_cost.py [--paths torch,legacy,dynamo] [--layers 6] [--hidden 384]
        [--heads 12] [--vocab 30522] [--calibration 32] [--seq 64] [--profile DIR] [--write]

The model is qcompiler.testing.transformer_models.bert (seeded random weights, masked mean
pooling) at the issue's size: 6 layers, hidden 384, 12 heads, intermediate 4x hidden.
Calibration is `--calibration` padded sequences of `--seq` tokens; x86-vnni's default
pipeline. Each path runs in its own child process, so "peak RSS" (the child's ru_maxrss)
covers exactly that path: export, import, compile, report, Numba. "compile peak" is the
child's RSS high-water mark during `qcompiler.compile` alone (reset through
/proc/self/clear_refs just before it, read from VmHWM just after: the ONNX export and
the report do not count, the torch/model memory already resident does), and "before"
the RSS it started from. "Numba 1st" includes building the
executor (weight packing, JIT or cache load); "Numba" is the median of 3 later calls on the
[calibration, seq] batch. "CPU s" is the process's CPU time over all its threads: on the
shared machine the wall time stretches with the load, the CPU time much less.
`--profile DIR` writes a cProfile of each stage there.
Goals (issue 11 item 5): report <= 10 s, compile <= 60 s and <= 2 GB.
"""
from __future__ import annotations

import argparse
import cProfile
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import cpu_description, markdown_table, write_section  # noqa: E402

TOP_PASSES = 4  # slowest passes listed per path
CALIBRATION_BATCH = 8


def _model(args):
    from qcompiler.testing import transformer_models as tm

    return tm.bert(seed=0, vocab_size=args.vocab, hidden=args.hidden, layers=args.layers, heads=args.heads,
                   intermediate=4 * args.hidden, max_positions=max(args.seq, 64))


def _source(args, model, tokens, workdir: Path):
    """What qcompiler.compile takes on this path: the module, or an exported ONNX file."""
    if args.path == "torch":
        return model
    import torch

    path = workdir / f"bert_{args.path}.onnx"
    names = dict(input_names=["input_ids", "attention_mask"], output_names=["pooled"])
    small = tuple(t[:2, :16] for t in tokens)
    if args.path == "legacy":
        axes = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}, "pooled": {0: "batch"}}
        torch.onnx.export(model, small, str(path), dynamo=False, opset_version=17, dynamic_axes=axes, **names)
    else:
        batch, seq = torch.export.Dim("batch"), torch.export.Dim("seq", max=512)
        shapes = {"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: seq}}
        torch.onnx.export(model, small, str(path), dynamo=True, opset_version=18, dynamic_shapes=shapes,
                          external_data=False, **names)
    return str(path)


def _timed(name: str, fn, args, times: dict):
    profiler = cProfile.Profile() if args.profile else None
    start, cpu = time.perf_counter(), time.process_time()
    result = profiler.runcall(fn) if profiler else fn()
    times[name] = time.perf_counter() - start
    times[name + "_cpu"] = time.process_time() - cpu  # all threads: on a loaded machine, the work itself
    if profiler:
        profiler.dump_stats(str(Path(args.profile) / f"{args.path}_{name}.prof"))
    return result


def _child(args) -> dict:
    """One path, measured in this process; printed as JSON for the parent."""
    import qcompiler
    import qcompiler.api as api
    from qcompiler.report.layers import report
    from qcompiler.instruments.time_passes import TimePasses
    from qcompiler.testing import transformer_models as tm

    timer = TimePasses()
    manager = api.PassManager
    # compile() builds its own PassManager; the timer joins its instruments to time each pass
    api.PassManager = lambda passes, instruments=(): manager(passes, [*instruments, timer])
    model = _model(args)
    ids, mask = tm.padded_tokens(args.calibration, args.seq, vocab_size=args.vocab, seed=1)
    times: dict = {}
    with tempfile.TemporaryDirectory() as workdir:
        source = _timed("export", lambda: _source(args, model, (ids, mask), Path(workdir)), args, times)
        calibration = [(ids.numpy()[i:i + CALIBRATION_BATCH], mask.numpy()[i:i + CALIBRATION_BATCH])
                       for i in range(0, args.calibration, CALIBRATION_BATCH)]
        rss_before = _reset_peak_rss()
        cm = _timed("compile", lambda: qcompiler.compile(source, "x86-vnni", calibration=calibration,
                                                         example_inputs=(ids[:2], mask[:2]), progress=False),
                    args, times)
        compile_peak = _status_mb("VmHWM")
    table = _timed("report", lambda: str(report(cm)), args, times)
    batch = (ids.numpy(), mask.numpy())
    _timed("numba_first", lambda: cm(*batch), args, times)
    calls = []
    for _ in range(3):
        start = time.perf_counter()
        cm(*batch)
        calls.append(time.perf_counter() - start)
    times["numba"] = statistics.median(calls)
    passes = sorted(timer.records, key=lambda r: -r.seconds)[:TOP_PASSES]
    return {"path": args.path, "times": times, "passes": [(r.name, r.seconds) for r in passes],
            "nodes": len(cm.graph.nodes), "fallback": _fallback_ops(cm), "report_lines": table.count("\n"),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "compile_rss_mb": (rss_before, compile_peak)}


def _status_mb(field: str) -> float:
    """A memory field of /proc/self/status (kB there), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def _reset_peak_rss() -> float:
    """Reset this process's RSS high-water mark to its current RSS (Linux >= 4.0), which
    it returns in MB, so VmHWM afterwards is the peak of what runs in between."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_mb("VmRSS")


def _fallback_ops(cm) -> dict:
    """op -> how many nodes the Numba executor runs through their numpy reference."""
    counts: dict = {}
    fallback = set(cm.executor.fallback_nodes)
    for node in cm.graph.nodes:
        if node.label() in fallback:
            counts[node.op] = counts.get(node.op, 0) + 1
    return counts


def _compile_rss(r: dict) -> str:
    before, peak = r["compile_rss_mb"]
    return f"{peak:.0f} (before {before:.0f})"


def _row(r: dict) -> list:
    t = r["times"]
    passes = ", ".join(f"{name} {seconds:.1f}" for name, seconds in r["passes"])
    fallback = ", ".join(f"{op} {n}" for op, n in sorted(r["fallback"].items())) or "none"
    return [r["path"], r["nodes"], f"{t['export']:.1f}", f"{t['compile']:.1f} ({t['compile_cpu']:.1f})", passes,
            f"{t['report']:.1f} ({t['report_cpu']:.1f})",
            f"{t['numba_first']:.2f}", f"{t['numba']:.2f}", _compile_rss(r),
            f"{r['peak_rss_mb']:.0f}", fallback]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--paths", default="torch,legacy,dynamo")
    parser.add_argument("--path", help=argparse.SUPPRESS)  # set in the child process
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--hidden", type=int, default=384)
    parser.add_argument("--heads", type=int, default=12)
    parser.add_argument("--vocab", type=int, default=30522)
    parser.add_argument("--calibration", type=int, default=32)
    parser.add_argument("--seq", type=int, default=64)
    parser.add_argument("--profile", help="directory for one cProfile file per path and stage")
    parser.add_argument("--write", action="store_true", help="write the table into bench/RESULTS.md")
    args = parser.parse_args()
    if args.path:
        print(json.dumps(_child(args)))
        return
    results = []
    for path in args.paths.split(","):
        command = [sys.executable, __file__, "--path", path, *sys.argv[1:]]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode:
            print(f"{path}: failed\n{done.stderr[-3000:]}", file=sys.stderr)
            continue
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    header = ["path", "nodes", "export s", "compile s (CPU s)", f"slowest {TOP_PASSES} passes (s)", "report s (CPU s)",
              "Numba 1st s", "Numba s", "compile peak RSS MB", "whole-run peak RSS MB", "Numba numpy fallbacks"]
    body = (f"BERT {args.layers} layers, hidden {args.hidden}, {args.heads} heads, vocab {args.vocab}; "
            f"{args.calibration} calibration sequences of {args.seq} tokens; x86-vnni.\n"
            f"CPU: {cpu_description()}\n\n" + markdown_table(header, [_row(r) for r in results], "lrrrlrrrrrl"))
    print(body)
    if args.write:
        write_section("Transformer compile cost: report, compile, Numba (issue 11 item 5)",
                      f"`python bench/transformer_cost.py {' '.join(sys.argv[1:])}`\n\n{body}")


if __name__ == "__main__":
    main()
