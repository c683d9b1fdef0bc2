"""prune{recalibrate=true}: one streamed forward of the calibration data
(passes/compression/recalibrate.py) against the algorithm it replaced, one whole forward
of the calibration data per pruned layer, on a light-zoo CNN with seeded random weights
(qcompiler/testing/light_zoo.py).

    nice -n 15 python bench/recalibrate_speed.py [--model resnet50] [--images 8] [--sparsity 0.5]
        [--repeats 1] [--algorithms per-layer,streamed] [--before REV] [--write]

All start from the same folded, channel-pruned graph (prune{granularity=channel,
keep_outputs=true}) and the same targets (the unpruned channel statistics, measured once,
not timed); they take turns `--repeats` times (median wall and process CPU time). With
--before REV, the streamed algorithm of recalibrate.py at git revision REV takes turns too
(`--algorithms streamed --before REV` times one version of the streamed forward against
another without the slow per-layer one). The difference column gives the largest
difference between each one's recalibrated weights and biases and the streamed one's,
relative to the largest magnitude of each constant, over the convs and for the last layer;
the noise floor is the same figure between two streamed runs whose images differ by 1e-7
relative noise: how far float rounding alone moves the result (the last layer, the
classifier, sees one value per image and channel, so a few images leave some of its
channels with almost no spread and a large gain).
"""
from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import cpu_description, markdown_table, write_section  # noqa: E402

PREPARE = "fold-constants,canonicalize,fold-bn,fuse-activations,dce"
FLAGS = ("avx2", "avx512_vnni", "avx512_vpopcntdq")
REPO = Path(__file__).resolve().parents[1]
SOURCE = "passes/compression/recalibrate.py"


def per_layer(graph, layers: list, targets: list, calibration) -> None:
    """The replaced algorithm: each layer measured on a whole forward of the calibration data."""
    from qcompiler.passes.compression.recalibrate import channel_statistics, match_statistics

    for node, target in zip(layers, targets):
        match_statistics(graph, node, channel_statistics(graph, [node], calibration)[0], target)


def streamed_at(revision: str, work: Path):
    """`recalibrate` of recalibrate.py at git `revision`, imported from a copy."""
    source = subprocess.run(["git", "show", f"{revision}:{SOURCE}"], cwd=REPO, capture_output=True, text=True,
                            check=True).stdout
    path = work / "recalibrate_before.py"
    path.write_text(source.replace("from ..", "from qcompiler.passes.").replace("from .", "from qcompiler.passes.compression."))
    spec = importlib.util.spec_from_file_location("recalibrate_before", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.recalibrate


def pruned_graph(args) -> tuple:
    """(pruned graph, its recalibrated layers, their targets, calibration images)."""
    from qcompiler.frontends.onnx import import_onnx
    from qcompiler.passes.compression.recalibrate import channel_statistics, recalibration_layers
    from qcompiler.passmanager import PassContext, PassManager
    from qcompiler.testing.light_zoo import light_images, light_model

    graph = import_onnx(light_model(args.model))
    PassManager(PREPARE).run(graph, PassContext())
    images = light_images(args.images, seed=1)
    ctx = PassContext()
    layers = recalibration_layers(graph, [n for n in graph.nodes if n.op in ("conv2d", "linear")], ctx)
    targets = channel_statistics(graph, layers, images)
    PassManager(f"prune{{sparsity={args.sparsity},granularity=channel,keep_outputs=true}}").run(graph, ctx)
    pruned = {id(n) for n in graph.nodes if "q.sparsity" in n.attrs}
    chosen = [(n, t) for n, t in zip(layers, targets) if id(n) in pruned]
    return graph, [n for n, _ in chosen], [t for _, t in chosen], images


def timed(fn, graph, layers: list, targets: list, images) -> tuple:
    from qcompiler.ir.clone import clone

    copy = clone(graph)
    by_name = {n.outputs[0].name: n for n in copy.nodes}
    copied = [by_name[n.outputs[0].name] for n in layers]
    wall, cpu = time.perf_counter(), time.process_time()
    fn(copy, copied, targets, images)
    seconds = (time.perf_counter() - wall, time.process_time() - cpu)
    return seconds, [copy.const_value(n.inputs[i]) for n in copied for i in (1, 2)]


NOISE = 1e-7


def differences(got: list, want: list) -> tuple:
    """Largest relative difference of the constants (weight, bias per layer): all layers but the last, the last."""
    rel = [float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30)) for a, b in zip(got, want)]
    return max(rel[:-2]), max(rel[-2:])


def main() -> None:
    from qcompiler.passes.compression.recalibrate import recalibrate

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--sparsity", type=float, default=0.5)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--algorithms", default="per-layer,streamed", help="comma-separated: per-layer, streamed")
    parser.add_argument("--before", default=None, help="also time the streamed algorithm at this git revision")
    parser.add_argument("--write", action="store_true", help="append/replace the section in bench/RESULTS.md")
    args = parser.parse_args()
    start_load = Path("/proc/loadavg").read_text().split()[:3]
    graph, layers, targets, images = pruned_graph(args)
    algorithms = {"per-layer": per_layer, "streamed": recalibrate}
    chosen = {name: algorithms[name] for name in args.algorithms.split(",")}
    with tempfile.TemporaryDirectory() as work:
        if args.before:
            chosen[f"streamed at {args.before}"] = streamed_at(args.before, Path(work))
        samples, constants = {name: [] for name in chosen}, {}
        for _ in range(args.repeats):
            for name, fn in chosen.items():
                seconds, constants[name] = timed(fn, graph, layers, targets, images)
                samples[name].append(seconds)
    wall, cpu = ({k: statistics.median(s[i] for s in v) for k, v in samples.items()} for i in (0, 1))
    streamed = constants["streamed"] if "streamed" in constants else timed(recalibrate, graph, layers, targets, images)[1]
    noisy = images * (1 + np.float32(NOISE) * np.random.default_rng(1).standard_normal(images.shape, np.float32))
    floor = differences(timed(recalibrate, graph, layers, targets, noisy)[1], streamed)
    header = ["algorithm", "wall s", "CPU s", "CPU / streamed CPU", "difference from streamed: convs / last"]
    rows = [[name, f"{wall[name]:.1f}", f"{cpu[name]:.1f}", f"{cpu[name] / cpu['streamed']:.2f}" if "streamed" in cpu
             else "", " / ".join(f"{d:.0e}" for d in differences(constants[name], streamed))] for name in chosen]
    rows.append(["(noise floor: streamed on images x (1 + 1e-7 noise))", "", "", "",
                 " / ".join(f"{d:.0e}" for d in floor)])
    command = "nice -n 15 python bench/recalibrate_speed.py " + " ".join(sys.argv[1:])
    end_load = Path("/proc/loadavg").read_text().split()[:3]
    body = (f"{markdown_table(header, rows, 'lrrrr')}\n\n{args.model}, {args.images} images, {len(layers)} "
            f"recalibrated layers. Command: `{command}` (median of {args.repeats}, taking turns); load average "
            f"{' '.join(start_load)} at start, {' '.join(end_load)} at the end, on the shared 2-core machine.\n\n"
            f"CPU: {cpu_description(FLAGS)}")
    print(body)
    if args.write:
        write_section("prune{recalibrate=true}: " + " vs ".join(chosen), body)


if __name__ == "__main__":
    main()
