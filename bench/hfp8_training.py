"""HFP8 training simulation: chunked vs naive low-precision accumulation, stochastic vs
round-to-nearest weight updates (qcompiler.training.hfp8, docs/hfp8.md).

    python bench/hfp8_training.py [--epochs 8] [--accumulate e6m5] [--chunk 16] [--weights bf16] [--lr 0.05] [--write]

Toy: the relative error of a long dot product (uniform [0, 1) values times ones) summed
in FP16, naively (chunk 1: the running sum rounded after every addition) and in chunks
of 64. Digits: a 64-256-10 MLP on sklearn's digits (1,437 training, 360 test images,
seeded split, batch 64), every Linear converted to HFP8 (E4M3 forward, E5M2 gradients,
`--accumulate` accumulator for all three GEMMs, master weights in `--weights`), plain
SGD at the same learning rate and epochs for every row; fp32 is the unconverted model
with torch's SGD. Top-1 on the test images after the last epoch.
"""
from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import cpu_description, markdown_table, write_section  # noqa: E402

from qcompiler.training.hfp8 import resolve_format, rounded_matmul, train  # noqa: E402
from qcompiler.training.hfp8.train import accuracy  # noqa: E402


def dot_product_errors(lengths=(1024, 4096, 16384), chunk=64) -> list[list]:
    fp16 = resolve_format("fp16", "accumulate")
    generator = torch.Generator().manual_seed(0)
    rows = []
    for k in lengths:
        a = torch.rand(1, k, generator=generator)
        exact = float(a.double().sum())
        errors = [abs(float(rounded_matmul(a, torch.ones(k, 1), c, fp16)) - exact) / exact for c in (1, chunk)]
        rows.append([k, f"{errors[0]:.2e}", f"{errors[1]:.2e}"])
    return rows


def digits_batches(batch: int = 64):
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32) / 16.0
    y = torch.tensor(digits.target)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    x, y = x[order], y[order]
    split = int(0.8 * len(y))
    train_batches = [(x[i:i + batch], y[i:i + batch]) for i in range(0, split, batch)]
    test_batches = [(x[split:], y[split:])]
    return train_batches, test_batches


def fp32_run(model, train_batches, test_batches, epochs, lr):
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    for _ in range(epochs):
        for x, y in train_batches:
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
    return accuracy(model, test_batches)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--accumulate", default="e6m5")
    parser.add_argument("--chunk", type=int, default=16)
    parser.add_argument("--weights", default="bf16")
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--write", action="store_true", help="append the tables to bench/RESULTS.md")
    args = parser.parse_args(argv)

    toy = markdown_table(["length", "naive FP16 (chunk 1)", "chunked FP16 (chunk 64)"], dot_product_errors(), "rrr")
    print(toy)
    train_batches, test_batches = digits_batches()
    torch.manual_seed(0)
    base = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10))
    configs = [("HFP8 chunked + SR", args.chunk, "stochastic"), ("naive accumulation + SR", 1, "stochastic"),
               ("HFP8 chunked + RTN updates", args.chunk, "nearest")]
    start = time.perf_counter()
    rows = [["fp32", "-", "fp32", "-", f"{100 * fp32_run(copy.deepcopy(base), train_batches, test_batches, args.epochs, args.lr):.2f}",
             f"{time.perf_counter() - start:.0f}"]]
    for name, chunk, rounding in configs:
        start = time.perf_counter()
        log = train(copy.deepcopy(base), train_batches, args.epochs, chunk=chunk, accumulate=args.accumulate,
                    weights=args.weights, update_rounding=rounding, lr=args.lr, eval_data=test_batches, quiet=True)
        rows.append([name, chunk, args.accumulate, f"{args.weights} {rounding}", f"{100 * log[-1].accuracy:.2f}",
                     f"{time.perf_counter() - start:.0f}"])
        print(name, [f"{e.loss:.3f}" for e in log])
    digits = markdown_table(["configuration", "chunk", "accumulator", "master weights", "top-1 %", "s"], rows, "lrlrrr")
    print(digits)
    print(cpu_description())
    if args.write:
        command = "python bench/hfp8_training.py " + " ".join(argv if argv is not None else sys.argv[1:])
        write_section("HFP8 training simulation", f"`{command}`\n\n{toy}\n\n{digits}\n\n{cpu_description()}")


if __name__ == "__main__":
    main()
