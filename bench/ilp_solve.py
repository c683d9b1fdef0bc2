"""Time the ILP bit allocator: HAWQ-V3's ResNet18 problem (goal ≤ 50 ms per solve) and a
synthetic 1000-layer chain with 3 choices and ties (goal ≤ 2 s per solve).

    python bench/ilp_solve.py [--runs 7]

Prints a markdown table of solve() wall times (median, min, max over the runs; each
solve() is the proving solve plus the tie-break solve) and the CPU flags that matter.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import time
from pathlib import Path

import scipy

from qcompiler.passes.allocation import AllocationProblem, Choice, LayerOptions, relative_budget, solve

HAWQ = Path(__file__).resolve().parents[1] / "tests" / "data" / "hawq_v3_ilp_resnet18.json"
RESOURCE = {"modelsize": "size", "bops": "bops", "latency": "latency"}


def resnet18_problems() -> list:
    data = json.loads(HAWQ.read_text())
    layers = [LayerOptions(d["name"], [Choice(b, d["hessian_trace"] * d["perturbation"][str(b)],
                                              {"size": d["params_count"] * b / 8, "bops": d["macs_count"] * b * b / 1024,
                                               "latency": d["latency"][str(b)]}) for b in data["bit_choices"]])
              for d in data["layers"]]
    ties = [tuple(t["indices"]) for t in data["ties"]]
    unbounded = AllocationProblem(layers, {}, ties)
    problems = []
    for name, config in data["published_configs"].items():
        if config["constraint"]:
            resource = RESOURCE[config["constraint"]]
            expected = tuple(config["bits"][d["name"]]["weight"] for d in data["layers"])
            problem = AllocationProblem(layers, {resource: relative_budget(unbounded, resource, config["r"])}, ties)
            problems.append((name.removeprefix("bit_config_"), problem, expected))
    return problems


def chain(n: int = 1000, seed: int = 0) -> AllocationProblem:
    """Conv-like layers: 2/4/8 bits, trace-weighted rounding error ∝ params·4^-b, size and
    BOPs costs; every tenth layer is tied to the one two further on (a downsample conv)."""
    rng = random.Random(seed)
    layers = []
    for i in range(n):
        params = int(10 ** rng.uniform(3.5, 6.5))
        macs = params * rng.choice([49, 196, 784, 3136])
        trace = rng.lognormvariate(-3, 1.5)
        layers.append(LayerOptions(f"layer{i}", [Choice(b, trace * params * 4.0 ** -b * rng.uniform(0.8, 1.2),
                                                        {"size": params * b / 8, "bops": macs * b * b}) for b in (2, 4, 8)]))
    return AllocationProblem(layers, {}, [(i, i + 2) for i in range(0, n - 2, 10)])


def timed(problem: AllocationProblem, runs: int):
    times, allocation = [], None
    for _ in range(runs):
        start = time.perf_counter()
        allocation = solve(problem)
        times.append(time.perf_counter() - start)
    return times, allocation


def cpu_flags() -> str:
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    flags = next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), [])
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), platform.processor())
    have = ", ".join(f"{f}={'yes' if f in flags else 'no'}" for f in ("avx2", "avx512_vnni"))
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{model}; {have}; {info.count('processor')} logical CPUs (load average {load}); scipy {scipy.__version__}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    rows = []
    for name, problem, expected in resnet18_problems():
        times, allocation = timed(problem, args.runs)
        assert allocation.choices == expected, f"{name}: not the published configuration"
        rows.append((f"HAWQ-V3 {name} (published bits: yes)", problem, times, 0.050))
    base = chain()
    for budgets in ({"size": 0.5}, {"size": 0.5, "bops": 0.3}):
        limits = {r: relative_budget(base, r, f) for r, f in budgets.items()}
        problem = AllocationProblem(base.layers, limits, base.ties)
        times, allocation = timed(problem, args.runs)
        binding = [r for r in limits if allocation.costs[r] > 0.999 * limits[r]]
        label = ", ".join(f"{r} r={f}" for r, f in budgets.items())
        rows.append((f"chain 1000×3, 100 ties, {label} (binding: {', '.join(binding) or 'none'})", problem, times, 2.0))

    print(f"CPU: {cpu_flags()}\n")
    print("| problem | binaries | median ms | min ms | max ms | goal ms | met |")
    print("|---|---:|---:|---:|---:|---:|:---:|")
    for label, problem, times, goal in rows:
        n_vars = sum(len(layer.choices) for layer in problem.layers)
        median = statistics.median(times)
        print(f"| {label} | {n_vars} | {median * 1e3:.1f} | {min(times) * 1e3:.1f} | {max(times) * 1e3:.1f} "
              f"| {goal * 1e3:.0f} | {'yes' if median <= goal else 'NO'} |")


if __name__ == "__main__":
    main()
