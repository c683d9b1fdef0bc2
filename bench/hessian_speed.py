"""Time `sensitivity{metric=hessian}` (issue 14 item 5): the digits CNN (3.8k parameters,
256 labelled training digits, the pass's defaults) and a CIFAR-style ResNet18 (11.2M
parameters, 3x32x32 inputs, no labels: the KL to the float outputs), printing CPU and wall
seconds, Hutchinson samples summed over the layers (a Hessian-vector product each for
weight-space probes; output-space ones share a backward pass among all layers), each
layer's trace and the Spearman rank agreement of the traces with the first estimator's
(this tree's).

`--before COMMIT` also times the hessian.py of that commit on the same graphs and data
(the ResNet18 only with --before-resnet: before 39ac1e0, per-layer probes over every
batch took hours). `--threads` sets torch's intra-op threads (the machine is shared: see
the load average). `--cross-terms P` instead compares, on one batch of each model, P
probes spanning all layers with P probes per layer (bench/_hessian_cross_terms.py).

    python bench/hessian_speed.py --before 75335ce --threads 1
    python bench/hessian_speed.py --models digits,resnet18 --before 01df3a3 --before-resnet --threads 1
    python bench/hessian_speed.py --models digits,resnet18 --cross-terms 16 --threads 1
"""
from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import time
from pathlib import Path

import torch
from scipy.stats import spearmanr
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_description, markdown_table  # noqa: E402
from _hessian_cross_terms import cross_term_spread  # noqa: E402
from _mnist_resnet import BasicBlock  # noqa: E402

import qcompiler.passes.sensitivity.hessian as hessian  # noqa: E402
from qcompiler.frontends.fx import import_module  # noqa: E402
from qcompiler.passes.sensitivity.data import sensitivity_batches  # noqa: E402
from qcompiler.passes.sensitivity.layers import quantizable_layers  # noqa: E402
from qcompiler.passes.sensitivity.measurement import Measurement  # noqa: E402
from qcompiler.passes.sensitivity.torch_model import TorchModel  # noqa: E402
from qcompiler.passmanager import PassContext, run_pipeline  # noqa: E402
from qcompiler.testing.zoo import digits_data, train_digits_cnn  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


class ResNet18(nn.Module):
    """ResNet18 for 32x32 inputs (3x3 stem, no max pool): 2-2-2-2 basic blocks of 64-512 channels."""

    def __init__(self, classes: int = 10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU())
        blocks, cin = [], 64
        for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            blocks += [BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)]
            cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(512, classes)

    def forward(self, x):
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(self.blocks(self.stem(x)), 1), 1))


def resnet18_setup(samples: int) -> tuple:
    """Seeded weights; batch-norm statistics measured on the data (as a trained model's
    would be) so activations neither explode nor vanish; logits scaled to std ~3."""
    torch.manual_seed(0)
    model = ResNet18()
    x = torch.randn(samples, 3, 32, 32)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = None  # a cumulative average over the batches below
    with torch.no_grad():
        model.train()
        model(x)
        model.eval()
        model.fc.weight *= 3.0 / float(model(x).std())
    return model, x, None


def digits_setup(samples: int) -> tuple:
    x, y, _, _ = digits_data()
    return train_digits_cnn(), x[:samples], y[:samples]


def measurement(model, x, y, samples: int, batch: int, iterations: int, tol: float) -> Measurement:
    graph = import_module(model, x[:2], dynamic_batch=True)
    run_pipeline(graph, "fold-bn", PassContext())
    calibration = x if y is None else [(x[i:i + batch], y[i:i + batch]) for i in range(0, len(x), batch)]
    ctx = PassContext(calibration=calibration)
    layers = quantizable_layers(graph)
    return Measurement(graph, layers, TorchModel(graph, layers), sensitivity_batches(ctx, graph, samples, batch),
                       (2, 4, 8), True, False, torch.Generator().manual_seed(0), iterations, tol)


def module_at(commit: str):
    """hessian.py as it was at `commit`, imported next to today's so its relative imports resolve."""
    source = subprocess.run(["git", "-C", str(REPO), "show", f"{commit}:passes/sensitivity/hessian.py"],
                            check=True, capture_output=True, text=True).stdout
    spec = importlib.util.spec_from_loader(f"{hessian.__package__}._hessian_{commit}", loader=None)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = hessian.__package__
    exec(compile(source, f"hessian.py@{commit}", "exec"), module.__dict__)
    return module


def timed(estimator, m: Measurement) -> tuple:
    wall, cpu = time.perf_counter(), time.process_time()
    traces, probes = estimator.hessian_traces(m)
    return traces, probes, time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--before", help="also time hessian.py at this commit")
    p.add_argument("--before-resnet", action="store_true", help="with --before: on the ResNet18 too")
    p.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch intra-op threads")
    p.add_argument("--models", default="digits,resnet18", help="comma-separated: digits, resnet18")
    p.add_argument("--resnet-samples", type=int, default=64)
    p.add_argument("--resnet-batch", type=int, default=16)
    p.add_argument("--resnet-tol", type=float, default=0.1)
    p.add_argument("--cross-terms", type=int, metavar="P", help="compare P joint with P per-layer probes instead")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    chosen = args.models.split(",")
    if set(chosen) - {"digits", "resnet18"}:
        p.error(f"--models {args.models!r}: expected digits and/or resnet18")
    cases = [("digits CNN", lambda: digits_setup(256), 256, 64, 200, 0.05) if "digits" in chosen else None,
             ("ResNet18 32x32", lambda: resnet18_setup(args.resnet_samples), args.resnet_samples, args.resnet_batch,
              200, args.resnet_tol) if "resnet18" in chosen else None]
    if args.cross_terms:
        cross_terms(filter(None, cases), args.cross_terms, args.threads)
        return
    estimators = [("after (this tree)", hessian)]
    if args.before:
        estimators.append((f"before ({args.before})", module_at(args.before)))
    rows = []
    for name, setup, samples, batch, iterations, tol in filter(None, cases):
        model, x, y = setup()
        params = sum(p.numel() for p in model.parameters())
        first = None
        for label, estimator in estimators:
            if name.startswith("ResNet") and estimator is not hessian and not args.before_resnet:
                continue
            m = measurement(model, x, y, samples, batch, iterations, tol)
            traces, probes, cpu, wall = timed(estimator, m)
            first = first or traces
            shown = ", ".join(f"{t:.3g}" for t in traces.values())
            # before 39ac1e0 (no rounds) each probe ran over every batch: a product per batch
            products = probes if hasattr(estimator, "MIN_ROUNDS") else probes * len(m.batches)
            space = "output" if getattr(estimator, "output_space_applies", lambda m: False)(m) else "weight"
            rho = spearmanr(list(first.values()), list(traces.values()))[0] if len(traces) > 1 else float("nan")
            rows.append([name, f"{params:,}", len(m.layers), f"{samples}/{batch}, tol {tol}", label, space, products,
                         f"{cpu:.2f}", f"{wall:.2f}", shown, f"{rho:.3f}"])
            print(rows[-1], flush=True)
    print(f"\n{cpu_description()}; torch threads {args.threads}\n")
    print(markdown_table(["model", "params", "layers", "samples/batch", "estimator", "probes", "samples (all layers)",
                          "CPU s", "wall s", "per-layer traces", "rank agreement"], rows, "llrlllrrrlr"))


def cross_terms(cases, probes: int, threads: int) -> None:
    rows = []
    for name, setup, samples, batch, iterations, tol in cases:
        model, x, y = setup()
        m = measurement(model, x, y, samples, batch, iterations, tol)
        spread, joint_cpu, own_cpu = cross_term_spread(m, probes)
        print(f"{name}: {probes} joint products {joint_cpu:.2f} CPU s, {probes} per layer "
              f"({probes * len(m.layers)} products) {own_cpu:.2f} CPU s", flush=True)
        rows += [[name, f"{m.batches[0].size}", layer, f"{jm:.4g}", f"{js:.2f}", f"{om:.4g}", f"{os_:.2f}",
                  f"{ratio:.3g}"] for layer, jm, js, om, os_, ratio in spread]
    print(f"\n{cpu_description()}; torch threads {threads}; {probes} probes each\n")
    print(markdown_table(["model", "batch", "layer", "joint mean", "joint std/mean", "per-layer mean",
                          "per-layer std/mean", "variance ratio"], rows, "lrlrrrrr"))


if __name__ == "__main__":
    main()
