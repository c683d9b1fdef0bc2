"""prune{recalibrate=true}: one streamed forward of the calibration data
(passes/compression/recalibrate.py) against the algorithm it replaced, one whole forward
of the calibration data per pruned layer, on a light-zoo CNN with seeded random weights
(qcompiler/testing/light_zoo.py).

    nice -n 15 python bench/recalibrate_speed.py [--model resnet50] [--images 8] [--sparsity 0.5]
        [--repeats 1] [--write]

Both start from the same folded, channel-pruned graph (prune{granularity=channel,
keep_outputs=true}) and the same targets (the unpruned channel statistics, measured once,
not timed); they take turns `--repeats` times (median wall and process CPU time). The
difference columns give the largest difference between their recalibrated weights and
biases, relative to the largest magnitude of each constant, over the convs and for the
last layer; the noise floor is the same figure between two streamed runs whose images
differ by 1e-7 relative noise: how far float rounding alone moves the result (the last
layer, the classifier, sees one value per image and channel, so a few images leave some
of its channels with almost no spread and a large gain).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import cpu_description, markdown_table, write_section  # noqa: E402

PREPARE = "fold-constants,canonicalize,fold-bn,fuse-activations,dce"
FLAGS = ("avx2", "avx512_vnni", "avx512_vpopcntdq")


def per_layer(graph, layers: list, targets: list, calibration) -> None:
    """The replaced algorithm: each layer measured on a whole forward of the calibration data."""
    from qcompiler.passes.compression.recalibrate import channel_statistics, match_statistics

    for node, target in zip(layers, targets):
        match_statistics(graph, node, channel_statistics(graph, [node], calibration)[0], target)


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
    parser.add_argument("--write", action="store_true", help="append/replace the section in bench/RESULTS.md")
    args = parser.parse_args()
    start_load = Path("/proc/loadavg").read_text().split()[:3]
    graph, layers, targets, images = pruned_graph(args)
    samples = {"per-layer": [], "streamed": []}
    constants = {}
    for _ in range(args.repeats):
        for name, fn in (("per-layer", per_layer), ("streamed", recalibrate)):
            seconds, constants[name] = timed(fn, graph, layers, targets, images)
            samples[name].append(seconds)
    wall, cpu = ({k: statistics.median(s[i] for s in v) for k, v in samples.items()} for i in (0, 1))
    noisy = images * (1 + np.float32(NOISE) * np.random.default_rng(1).standard_normal(images.shape, np.float32))
    floor = differences(timed(recalibrate, graph, layers, targets, noisy)[1], constants["streamed"])
    difference = differences(constants["streamed"], constants["per-layer"])
    header = ["model", "images", "layers", "per-layer wall s", "per-layer CPU s", "streamed wall s",
              "streamed CPU s", "speedup wall", "speedup CPU", "difference: convs / last", "noise floor: convs / last"]
    row = [args.model, args.images, len(layers), f"{wall['per-layer']:.1f}", f"{cpu['per-layer']:.1f}",
           f"{wall['streamed']:.1f}", f"{cpu['streamed']:.1f}", f"{wall['per-layer'] / wall['streamed']:.1f}x",
           f"{cpu['per-layer'] / cpu['streamed']:.1f}x", " / ".join(f"{d:.0e}" for d in difference),
           " / ".join(f"{d:.0e}" for d in floor)]
    command = "nice -n 15 python bench/recalibrate_speed.py " + " ".join(sys.argv[1:])
    end_load = Path("/proc/loadavg").read_text().split()[:3]
    body = (f"{markdown_table(header, [row], 'llrrrrrrrrr')}\n\nCommand: `{command}` (median of {args.repeats}, "
            f"taking turns); load average {' '.join(start_load)} at start, {' '.join(end_load)} at the end, on the "
            f"shared 2-core machine.\n\nCPU: {cpu_description(FLAGS)}")
    print(body)
    if args.write:
        write_section("prune{recalibrate=true}: one streamed forward vs one forward per layer", body)


if __name__ == "__main__":
    main()
