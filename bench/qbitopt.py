"""Bit reallocation during training (qat{bitopt=qbitopt|bmpq}) vs the post-training ILP
allocation followed by LSQ at fixed widths, at the same weight-size budget, on the
digits residual CNN (bench/_mnist_resnet.py).

    python bench/qbitopt.py [--data PATH] [--budget 35% [27% ...]] [--qat-epochs 3] [--train-samples 2048]
                            [--every 16] [--freeze-after 0.333] [--lr 3e-4] [--scale-lr 3] [--schedule constant] [--seeds 0 1]
                            [--metric hessian] [--choices 2 4 8] [--reference ilp+lsq] [--model-cache PATH]
                            [--plot-dir DIR] [--write]

Every row starts from the same float model (3 epochs, seed 0) and
`fold-bn,...,calibrate{method=mse}` on 256 training digits, activations u8:
- ilp (peer, PTQ): sensitivity{metric, bits=choices} on those 256 digits with their labels
  (once per seed, shared by every budget), allocate-bits{budget.size, choices},
  calibrate-weights, quantize;
- ilp+lsq (peer): the same graph, then qat{method=lsq} at those fixed widths (its time
  includes the ilp row's);
- fixed+lsq (control): `--fixed-bits` as each layer's q.bits, calibrate, quantize, and the
  same qat as ilp+lsq: another allocation under the same training;
- qbitopt / bmpq: quantize{weights=i8}, then qat{method=lsq, bitopt=..., budget.size,
  every, choices, freeze_after} for the same epochs on the same digits (reallocating in the
  first `--freeze-after` of the steps, then training the widths it reached).
`--choices` is the weight-width menu of both (3, 5, 6 and 7 bits are stored in i4 / i8
on their own grid; sizes count the width, packed).
qat: cross-entropy on the first `--train-samples` training digits, Adam. Top-1 of the
fake-quant graph (torch executor) on the 1,000 test digits. `size` is the final weight
size from the graph's types; `max size` the largest size any reallocation chose (the
budget must hold at each one). Times are wall time on a shared machine.

Paired statistic (several seeds): a seed is qat's batch order (and the ILP's Hessian
probes), the same for every method, so each method minus `--reference` is taken per seed;
the table gives the mean of those differences, its standard error (sample sd / sqrt(n))
and t = mean / se.
"""
from __future__ import annotations

import argparse
import ast
import math
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import cpu_description, markdown_table, write_section  # noqa: E402
from _mnist_resnet import SmallResNet, load_mnist5k, train_resnet  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "mnist5k.npz"
PREPARE = "fold-constants,canonicalize,fold-bn,fuse-activations,dce,calibrate{method=mse}"
METHODS = ("ilp", "ilp+lsq", "qbitopt", "bmpq", "fixed+lsq")


def top1(graph, x, y) -> float:
    from qcompiler.runtime.torch import run_torch

    return 100.0 * float((run_torch(graph, [x])[0].argmax(1) == y).mean())


def weight_bits(graph) -> list:
    """(layer, bits, parameters) of every integer-weight layer, in graph order (the width,
    `q.bits`, which its storage container may exceed)."""
    from qcompiler.ir.types import QuantType

    return [(n.outputs[0].name, int(n.attrs["q.bits"]), math.prod(n.inputs[1].type.shape))
            for n in graph.nodes if n.op in ("conv2d", "linear") and isinstance(n.inputs[1].type, QuantType)]


def set_widths(graph, bits: str) -> None:
    """`q.bits` of every conv / linear in graph order from a string of digits ("8555363234")."""
    layers = [n for n in graph.nodes if n.op in ("conv2d", "linear")]
    if len(bits) != len(layers) or not bits.isdigit():
        raise SystemExit(f"--fixed-bits {bits!r}: give one digit per conv / linear layer ({len(layers)})")
    for node, b in zip(layers, bits):
        node.attrs["q.bits"] = int(b)


def float_model(args, d) -> SmallResNet:
    if args.model_cache is not None and args.model_cache.exists():
        model = SmallResNet()
        model.load_state_dict(torch.load(args.model_cache))
        return model.eval()
    model = train_resnet(d["x_train"], d["y_train"], epochs=3)
    if args.model_cache is not None:
        torch.save(model.state_dict(), args.model_cache)
    return model


def run_rows(method: str, seed: int, args, model, d) -> dict:
    """(row, budget) -> result; "ilp" also gives "ilp+lsq" (the same graph, trained on).
    The ILP's sensitivity runs once and each budget allocates from a copy of that graph."""
    from qcompiler.ir.clone import clone
    from qcompiler.model.loading import load_model
    from qcompiler.passes.qat import QAT
    from qcompiler.passmanager import PassContext
    from qcompiler.pipelines import names, split, with_bit_allocation

    train = (d["x_train"][:args.train_samples], d["y_train"][:args.train_samples])
    common = dict(method="lsq", epochs=args.qat_epochs, lr=args.lr, scale_lr=args.scale_lr, data=train, seed=seed,
                  schedule=args.schedule)
    graph = load_model(model, torch.from_numpy(d["x_test"][:1]), dynamic_batch=True)
    ctx = PassContext(calibration=d["x_train"][:256], options={"labels": d["y_train"][:256]}, seed=seed)
    test = (d["x_test"], d["y_test"])
    if method == "fixed+lsq":  # calibrate{method=mse} reads the widths set here; one budget (main checks)
        set_widths(graph, args.fixed_bits)
        stages = [(method, [PREPARE, "quantize{acts=u8}", QAT(**common)])]
        return {(method, args.budgets[0]): _run_stages(graph, ctx, stages, test)[method]}
    if method != "ilp":
        results = {}
        for budget in args.budgets:
            plot = None if args.plot_dir is None else str(args.plot_dir / f"{method}_{budget}_seed{seed}.png")
            qat = QAT(**common, bitopt=method, budget={"size": budget}, every=args.every,
                      choices=tuple(args.choices), freeze_after=args.freeze_after, plot=plot)
            stages = [(method, [PREPARE, "quantize{weights=i8,acts=u8}", qat])]
            results[(method, budget)] = _run_stages(clone(graph), ctx, stages, test)[method]
        return results
    pipelines = [split(with_bit_allocation([PREPARE, "quantize{acts=u8}"], {"size": b}, metric=args.metric,
                                           choices=tuple(args.choices))) for b in args.budgets]
    cut = names(pipelines[0]).index("allocate-bits")
    seconds = _run_stages(graph, ctx, [("sensitivity", pipelines[0][:cut])], test)["sensitivity"]["seconds"]
    results = {}
    for budget, pipeline in zip(args.budgets, pipelines):
        stages = [("ilp", pipeline[cut:])] + ([("ilp+lsq", [QAT(**common)])] if "ilp+lsq" in args.methods else [])
        for name, r in _run_stages(clone(graph), ctx, stages, test, seconds).items():
            results[(name, budget)] = r
    return results


def _run_stages(graph, ctx, stages: list, test: tuple, seconds: float = 0.0) -> dict:
    """Each stage's pipeline in turn on `graph`; after each, its result (times add up)."""
    from qcompiler.passmanager import PassManager

    results = {}
    for name, pipeline in stages:
        manager = PassManager(pipeline)
        start = time.perf_counter()
        manager.run(graph, ctx)  # the float weights quantize caches stay on the graph for the next stage's qat
        seconds += time.perf_counter() - start
        if name == "sensitivity":
            results[name] = {"seconds": seconds}
            continue
        history = next((r.stats.get("bits") for r in manager.history if r.name == "qat"), None) or []
        layers = weight_bits(graph)
        results[name] = {
            "top1": top1(graph, *test), "seconds": seconds, "size": sum(b * p / 8 for _, b, p in layers),
            "bits": "".join(str(b) for _, b, _ in layers),
            "max_size": max((h["size"] for h in history), default=None), "reallocations": len(history),
            "budget": history[0]["budget"] if history else None,
            "timeline": [(h["step"], "".join(str(b) for b in h["bits"].values())) for h in history]}
    return results


def paired(results: dict, method: str, reference: str, budget: str, seeds: list):
    """(mean, se, t, n) of method minus reference, seed by seed; None below two seeds."""
    differences = [results[(method, budget, s)]["top1"] - results[(reference, budget, s)]["top1"] for s in seeds]
    if len(differences) < 2:
        return None
    mean, se = statistics.mean(differences), statistics.stdev(differences) / math.sqrt(len(differences))
    return mean, se, (mean / se if se > 0 else math.inf), len(differences)


def budget_table(results: dict, budget: str, methods: list, reference: str, seeds: list, fp32: float) -> str:
    rows = [["fp32", "-", "-", "-", "-", "-", f"{fp32:.1f}", "-", "-"]]
    for method in [m for m in methods if all((m, budget, s) in results for s in seeds)]:
        runs = [results[(method, budget, s)] for s in seeds]
        accuracy = [r["top1"] for r in runs]
        mean = f"{statistics.mean(accuracy):.2f}" + (f" ± {statistics.stdev(accuracy):.2f} ("
                                                     f"{', '.join(f'{a:.1f}' for a in accuracy)})"
                                                     if len(runs) > 1 else "")
        max_size = max((r["max_size"] for r in runs if r["max_size"] is not None), default=None)
        pair = None if method == reference else paired(results, method, reference, budget, seeds)
        rows.append([method, " / ".join(r["bits"] for r in runs), " / ".join(f"{r['size']:.0f}" for r in runs),
                     "-" if max_size is None else f"{max_size:.0f}",
                     "-" if runs[0]["budget"] is None else f"{runs[0]['budget']:.0f}",
                     str(sum(r["reallocations"] for r in runs)), mean,
                     "-" if pair is None else f"{pair[0]:+.2f} ± {pair[1]:.2f} (t {pair[2]:.1f}, n {pair[3]})",
                     f"{statistics.mean(r['seconds'] for r in runs):.0f}"])
    return markdown_table(["method", "bits per layer", "size B", "max size B at a reallocation", "budget B",
                           "reallocations", "top-1 % mean ± sd (per seed)", f"minus {reference}, paired: "
                           "mean ± se", "pipeline s"], rows, "lllrrrlll")


def merged_rows(logs: list) -> dict:
    """(row, budget, seed) -> result from the lines earlier runs printed ("row budget seed {...}")."""
    results = {}
    for log in logs:
        for line in log.read_text().splitlines():
            parts = line.split(" ", 3)
            if len(parts) == 4 and parts[1].endswith("%") and parts[2].isdigit() and parts[3].startswith("{"):
                results[(parts[0], parts[1], int(parts[2]))] = ast.literal_eval(parts[3])
    return results


def main() -> None:
    from qcompiler.passes.qat import QAT

    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--budget", dest="budgets", nargs="+", default=["35%"],
                        help="weight size budgets (of every layer at 8 bits)")
    parser.add_argument("--qat-epochs", type=int, default=3)
    parser.add_argument("--train-samples", type=int, default=2048)
    parser.add_argument("--every", type=int, default=16, help="steps between QBitOpt's reallocations")
    parser.add_argument("--freeze-after", type=float, default=QAT.freeze_after,
                        help="the fraction of qat's steps during which QBitOpt / BMPQ may change widths")
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--scale-lr", type=float, default=3.0)
    parser.add_argument("--schedule", default="constant", choices=("constant", "cosine"), help="qat's lr schedule")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--metric", default="hessian", help="the PTQ ILP's sensitivity metric")
    parser.add_argument("--methods", nargs="*", default=list(METHODS), choices=METHODS,
                        help="the rows to run (none: only tabulate --merge)")
    parser.add_argument("--reference", default="ilp+lsq",
                        help="the row every other row is paired against, seed by seed (may come from --merge)")
    parser.add_argument("--merge", type=Path, nargs="+", default=[],
                        help="logs of earlier runs (their printed rows) to tabulate and pair with this run's")
    parser.add_argument("--tag", default=None, help="this run's rows are named METHOD[TAG] (no spaces)")
    parser.add_argument("--choices", type=int, nargs="+", default=[2, 4, 8], help="the weight-width menu")
    parser.add_argument("--fixed-bits", default=None,
                        help="fixed+lsq: these widths (one digit per layer, graph order), then LSQ as ilp+lsq")
    parser.add_argument("--model-cache", type=Path, default=None)
    parser.add_argument("--plot-dir", type=Path, default=None)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    if not 0 < args.freeze_after <= 1:
        parser.error(f"--freeze-after {args.freeze_after}: give a fraction in (0, 1]")
    if "fixed+lsq" in args.methods and (args.fixed_bits is None or len(args.budgets) > 1):
        parser.error("--methods fixed+lsq needs --fixed-bits and one --budget")
    if args.tag is not None and (not args.tag or " " in args.tag):
        parser.error(f"--tag {args.tag!r}: give a word without spaces")
    torch.set_num_threads(1)  # a shared machine: one core per training run
    from qcompiler.model.loading import load_model

    d = load_mnist5k(args.data)
    model = float_model(args, d)
    fp32 = top1(load_model(model, torch.from_numpy(d["x_test"][:1]), dynamic_batch=True), d["x_test"], d["y_test"])
    print(f"fp32 {fp32:.1f}%", flush=True)
    results = merged_rows(args.merge)
    rows = list(dict.fromkeys(name for name, _, _ in results))
    for method in [m for m in args.methods if m != "ilp+lsq" or "ilp" not in args.methods]:
        for seed in args.seeds:  # in sequence: one training run at a time
            for (name, budget), r in run_rows("ilp" if method == "ilp+lsq" else method, seed, args, model, d).items():
                if name in args.methods:
                    label = name if args.tag is None else f"{name}[{args.tag}]"
                    results[(label, budget, seed)] = r
                    rows += [] if label in rows else [label]
                    print(label, budget, seed, r, flush=True)
    command = (f"python bench/qbitopt.py --budget {' '.join(args.budgets)} --qat-epochs {args.qat_epochs} "
               f"--train-samples {args.train_samples} --every {args.every} --freeze-after {args.freeze_after:.4g} --lr {args.lr} --scale-lr {args.scale_lr} "
               f"--schedule {args.schedule} --seeds {' '.join(map(str, args.seeds))} --metric {args.metric} "
               f"--methods {' '.join(args.methods)} --choices {' '.join(map(str, args.choices))}"
               + (f" --tag {args.tag}" if args.tag else "") + "".join(f" --merge {log}" for log in args.merge))
    body = (f"`{command}` ({cpu_description()})\n\nDigits residual CNN (3 float epochs, seed 0), weights at "
            f"{'/'.join(map(str, args.choices))} bits within the budget (of the 8-bit weight size), activations u8; "
            f"qat (LSQ, {args.schedule} lr {args.lr}, step sizes at {args.lr * args.scale_lr:g}) for "
            f"{args.qat_epochs} epochs on {args.train_samples} labelled training digits; top-1 on the 1,000 test "
            "digits. Bits per layer in graph order, one string per seed.")
    for budget in args.budgets:
        body += f"\n\nBudget {budget}:\n\n" + budget_table(results, budget, rows, args.reference, args.seeds, fp32)
    timelines = [f"- {method} {budget}, seed {seed}: " + ", ".join(f"{step}: {bits}" for step, bits in r["timeline"])
                 for (method, budget, seed), r in results.items() if r["timeline"]]
    if timelines:
        body += "\n\nWidths per layer (graph order) at each reallocation, by training step:\n" + "\n".join(timelines)
    print(body)
    if args.write:
        write_section("Bit reallocation during training (QBitOpt, BMPQ) vs the post-training ILP", body)


if __name__ == "__main__":
    main()
