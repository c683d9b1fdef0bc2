"""Quantization-aware training (qat: LSQ, FAT, BR-QAT) vs post-training quantization on
the digits residual CNN (bench/_mnist_resnet.py), at W4A4 and W2A4, or W2A2 with
`--act-bits 2` (quantize keeps the first and last layers and the logits at 8 bits below
4-bit activations).

    python bench/qat.py [--data PATH] [--epochs 3] [--qat-epochs 2] [--train-samples 1024]
                        [--bits 4 2] [--act-bits 2] [--methods ...] [--lr 1e-3]
                        [--scale-lr 1] [--seeds 0 1 2] [--model-cache PATH] [--write]

Every row starts from the same float model and `fold-bn,...,calibrate{method=mse}` on
256 training digits (its ranges searched at `--act-bits` when given, else at 8 bits), then
`quantize{weights=iN,acts=uM}` (PTQ) followed by nothing or
`qat` with cross-entropy on the first `--train-samples` training digits and labels, the
same number of epochs for every method. `--seeds` are qat's seeds (batch order; the
float model and the calibration are the same for every seed): each qat row reports the
mean over seeds, the sample standard deviation and every seed's result. Top-1 is of the
fake-quant graph (torch executor) on the 1,000 mnist5k test digits; time is the whole
pipeline's wall time on the shared machine, one torch thread.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import cpu_description, markdown_table, write_section  # noqa: E402
from _mnist_resnet import load_mnist5k, train_resnet  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "mnist5k.npz"
PREPARE = ["fold-constants,canonicalize,fold-bn,fuse-activations,dce,calibrate{method=mse}"]
ROWS = [("ptq", {}), ("lsq", {"method": "lsq"}), ("fat", {"method": "fat"}),
        ("br-qat", {"method": "lsq", "block_replacement": True})]


def top1(graph, x, y) -> float:
    from qcompiler.runtime.torch import run_torch

    return 100.0 * float((run_torch(graph, [x])[0].argmax(1) == y).mean())


def spread(values: list) -> str:
    """mean ± sample standard deviation (values), or the one value."""
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return (f"{statistics.mean(values):.1f} ± {statistics.stdev(values):.1f} "
            f"({', '.join(f'{v:.1f}' for v in values)})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--epochs", type=int, default=3, help="float training epochs")
    parser.add_argument("--qat-epochs", type=int, default=2)
    parser.add_argument("--train-samples", type=int, default=1024)
    parser.add_argument("--bits", type=int, nargs="+", default=[4, 2])
    parser.add_argument("--act-bits", type=int, default=None,
                        help="activation bits (default: as many as the weights, at least 4)")
    parser.add_argument("--methods", nargs="+", default=[name for name, _ in ROWS], choices=[name for name, _ in ROWS])
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--scale-lr", type=float, default=1.0, help="step sizes' lr (on log s) as a multiple of --lr")
    parser.add_argument("--schedule", default="constant", choices=("constant", "cosine"), help="qat's lr schedule")
    parser.add_argument("--loss", default="auto", choices=("auto", "kl"), help="qat's loss (auto: cross-entropy)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="qat seeds (batch order)")
    parser.add_argument("--model-cache", type=Path, default=None, help="reuse / save the float model's weights")
    parser.add_argument("--write", action="store_true", help="write the table into bench/RESULTS.md")
    args = parser.parse_args()
    torch.set_num_threads(1)  # a shared machine: one core per training run
    from qcompiler.model.loading import load_model
    from qcompiler.passes.qat import QAT
    from qcompiler.passmanager import PassContext, PassManager

    d = load_mnist5k(args.data)
    if args.model_cache is not None and args.model_cache.exists():
        from _mnist_resnet import SmallResNet

        model = SmallResNet()
        model.load_state_dict(torch.load(args.model_cache))
        model.eval()
    else:
        model = train_resnet(d["x_train"], d["y_train"], epochs=args.epochs)
        if args.model_cache is not None:
            torch.save(model.state_dict(), args.model_cache)
    x_test, y_test = d["x_test"], d["y_test"]
    train = (d["x_train"][:args.train_samples], d["y_train"][:args.train_samples])

    def load():
        return load_model(model, torch.from_numpy(x_test[:1]), dynamic_batch=True)

    rows = [["fp32", "-", "-", f"{top1(load(), x_test, y_test):.1f}", "-"]]
    print(" | ".join(rows[0]), flush=True)
    for bits in args.bits:
        acts = max(bits, 4) if args.act_bits is None else args.act_bits
        prepare = PREPARE if args.act_bits is None else [PREPARE[0].replace("mse}", f"mse,bits={acts}}}")]
        quantize = f"quantize{{weights=i{bits},acts=u{acts}}}"
        for name, options in [row for row in ROWS if row[0] in args.methods]:
            accuracy, seconds = [], []
            for seed in (args.seeds if options else args.seeds[:1]):
                graph = load()
                extra = ([QAT(epochs=args.qat_epochs, lr=args.lr, scale_lr=args.scale_lr, data=train, seed=seed,
                              schedule=args.schedule, loss=args.loss, **options)] if options else [])
                start = time.perf_counter()
                PassManager(prepare + [quantize] + extra).run(graph, PassContext(calibration=d["x_train"][:256]))
                seconds.append(time.perf_counter() - start)
                accuracy.append(top1(graph, x_test, y_test))
                print(name, f"W{bits}A{acts}", "seed", seed, f"{accuracy[-1]:.1f}", f"{seconds[-1]:.0f} s", flush=True)
            epochs = str(args.qat_epochs) if options else "-"
            rows.append([name, f"W{bits}A{acts}", epochs, spread(accuracy), f"{statistics.mean(seconds):.0f}"])
            print(" | ".join(rows[-1]), flush=True)
    table = markdown_table(["method", "bits", "qat epochs", "top-1 % (mean ± sd, per seed)", "pipeline s per run"],
                           rows, "lllrr")
    command = (f"python bench/qat.py --epochs {args.epochs} --qat-epochs {args.qat_epochs} "
               f"--train-samples {args.train_samples} --lr {args.lr} --scale-lr {args.scale_lr} "
               f"--schedule {args.schedule} --loss {args.loss} "
               f"--bits {' '.join(map(str, args.bits))} "
               + ("" if args.act_bits is None else f"--act-bits {args.act_bits} ")
               + f"--seeds {' '.join(map(str, args.seeds))} "
               f"--methods {' '.join(args.methods)}")
    calibrate = "calibrate{method=mse}" if args.act_bits is None else f"calibrate{{method=mse,bits={args.act_bits}}}"
    body = (f"`{command}` ({cpu_description()})\n\nDigits residual CNN ({args.epochs} float epochs, seed 0); "
            f"{calibrate} on 256 training digits; qat on {args.train_samples} training digits with "
            f"labels (loss {args.loss}: auto is cross-entropy, kl distils the float model), {args.schedule} Adam "
            f"lr {args.lr} (step sizes as log s at lr {args.lr * args.scale_lr:g}); "
            "br-qat is LSQ with block replacement; top-1 on the 1,000 test digits.\n\n" + table)
    print(body)
    if args.write:
        write_section("Quantization-aware training (LSQ, FAT, BR-QAT) vs PTQ", body)


if __name__ == "__main__":
    main()
