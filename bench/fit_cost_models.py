"""Fit the x86 targets' cost models to onnxruntime (issue 14 item 4): compile a few CNNs
for each x86 target this host runs, time the exported model (median of --repeats runs of
a batch, per sample), and choose `mac_ns[8]` and `bytes_per_ns` minimizing the squared
log error of the cost model's prediction, Σ_layers max(MACs·mac_ns, bytes/bytes_per_ns).
Prints predicted (target file's constants and fitted) vs measured per model, and the
constants to write into qcompiler/targets/<target>.toml with this command.

    python bench/fit_cost_models.py --threads 1 --batch 64
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import minimize
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_description, markdown_table  # noqa: E402
from _mnist_resnet import SmallResNet  # noqa: E402

from qcompiler.api import compile  # noqa: E402
from qcompiler.cli.demo import load_demo_model  # noqa: E402
from qcompiler.cli.edge_bench import onnxruntime_seconds, host_cpu_flags, runner_missing  # noqa: E402
from qcompiler.targets import get_target  # noqa: E402
from qcompiler.targets.target import CostModel  # noqa: E402


def conv_stack() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 32, 3, 1, 1), nn.ReLU(), nn.Conv2d(32, 64, 3, 2, 1), nn.ReLU(),
                         nn.Conv2d(64, 64, 3, 1, 1), nn.ReLU(), nn.Conv2d(64, 128, 3, 2, 1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10))


def models() -> list:
    """(name, eval-mode torch model, input shape): 8x8 digits to 32x32x3, 0.3 to 20 MMACs."""
    torch.manual_seed(0)
    return [("digits CNN (demo)", load_demo_model(), (1, 8, 8)),
            ("MNIST ResNet (bench, random weights)", SmallResNet().eval(), (1, 28, 28)),
            ("conv stack 32x32x3 (random weights)", conv_stack().eval(), (3, 32, 32))]


def roofline_parts(cm) -> tuple:
    """Per layer (compute ns at 1 ns/MAC, memory ns at 1 byte/ns), from the report's rows."""
    target = cm.target
    parts = []
    for cost in (CostModel({8: 1.0}, 1e30), CostModel({8: 1e-30}, 1.0)):
        cm.target = dataclasses.replace(target, cost=cost)
        parts.append(np.array([r["latency_ns"] for r in cm.report().rows]))
    cm.target = target
    return parts[0], parts[1]


def predicted_us(parts, mac_ns: float, bytes_per_ns: float) -> float:
    compute, memory = parts
    return float(np.maximum(compute * mac_ns, memory / bytes_per_ns).sum()) / 1e3


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--onnx-form", default="qdq")
    args = p.parse_args()
    flags = host_cpu_flags()
    rng = np.random.default_rng(0)
    for name in ("x86-avx2", "x86-vnni"):
        target = get_target(name)
        if runner_missing(target, flags):
            print(f"{name}: {runner_missing(target, flags)}, not fitted")
            continue
        measured = []
        for label, model, shape in models():
            x = rng.standard_normal((args.batch,) + shape).astype(np.float32)
            cm = compile(model, target=name, example_inputs=torch.from_numpy(x[:1]), calibration=x, progress=False)
            cm.sample_inputs = None
            seconds = onnxruntime_seconds(cm, x, args.repeats, args.threads, args.onnx_form)
            measured.append((label, roofline_parts(cm), seconds / len(x) * 1e6))

        def error(log_params):
            mac_ns, bytes_per_ns = np.exp(log_params)
            return sum((math.log(predicted_us(parts, mac_ns, bytes_per_ns)) - math.log(us)) ** 2
                       for _, parts, us in measured)

        now = (target.cost.mac_ns[8], target.cost.bytes_per_ns)
        fit = np.exp(minimize(error, np.log(now), method="Nelder-Mead").x)
        rows = [[label, f"{predicted_us(parts, *now):.2f}", f"{predicted_us(parts, *fit):.2f}", f"{us:.2f}"]
                for label, parts, us in measured]
        print(f"\n### {name}: mac_ns[8] {now[0]:g} -> {fit[0]:.4g}, bytes_per_ns {now[1]:g} -> {fit[1]:.4g}\n")
        print(markdown_table(["model", "predicted µs/sample (file)", "predicted µs/sample (fitted)",
                              f"onnxruntime {args.onnx_form} µs/sample (batch {args.batch})"], rows, "lrrr"))
    print(f"\n{cpu_description()}; onnxruntime threads {args.threads}")


if __name__ == "__main__":
    main()
