"""End-to-end Numba latency and accuracy of whole models compiled at W2A2 and W1A1 (1- and 2-bit
activations from the compiler, the middle layers on the bit-serial kernels) against the same
models at W8A8 (the u8×s8 VNNI kernels).

    python bench/lowbit_models.py [--repeats 40] [--epochs 10] [--qat-epochs 3] [--no-write]

Models: the bundled 8x8 digits CNN (qcompiler.testing.zoo, 3 layers), the MNIST-style
residual CNN of bench/ptq_peers.py (9 convolutions, 16-64 channels, trained here on mnist5k:
skipped without the data), and for latency only a plain stack of 64-channel 3×3 convolutions
on 32×32 images with seeded weights (the channel count the 64-bit popcount words fit;
calibrated on normal noise, so it has no accuracy). Compiled for the `generic` target (it lists i2/b1 weights and
u2/b1 activations): `calibrate{method=mse,bits=B},quantize{weights=W,acts=A},lower`; below 4
bits the first and last layers keep 8-bit weights and inputs (the compiler's default). QAT
rows: the same pipeline with `qat{method=lsq}` before `lower` (cross-entropy on the training
set). Latency: one batch of 64 test images through the Numba executor, median process CPU
time of interleaved runs, 1 Numba thread; the bit-serial column counts the convolutions and
linears that ran on the bit-serial kernels in one call. Writes its section of
bench/RESULTS.md unless --no-write.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")  # see bench/numba_kernels.py

import numba  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import interleaved_samples, markdown_table, numba_run_note, write_section  # noqa: E402
from _mnist_resnet import load_mnist5k, train_resnet  # noqa: E402

import qcompiler  # noqa: E402
from qcompiler.backends.numba.executor import NumbaExecutor  # noqa: E402
from qcompiler.backends.numba.ops import products  # noqa: E402
from qcompiler.passes.qat import QAT  # noqa: E402
from qcompiler.testing.zoo import digits_data, train_digits_cnn  # noqa: E402

HEADING = "Whole models at W2A2 and W1A1 from the compiler vs W8A8, Numba end to end (issue 14, item 3)"
FLAGS = ("avx2", "avx512_vnni", "avx512_vpopcntdq", "avx512bw")  # the CPU flags the kernels can use
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist5k.npz"
PREFIX = "fold-constants,canonicalize,fold-bn,fuse-activations,dce"
WIDTHS = {"W8A8": (8, "i8", "u8"), "W2A2": (2, "i2", "u2"), "W1A1": (1, "b1", "b1")}
BATCH = 64


def compile_at(model, calibration, width: str, qat=None):
    bits, weights, acts = WIDTHS[width]
    quantize = f"{PREFIX},calibrate{{method=mse,bits={bits}}},quantize{{weights={weights},acts={acts}}}"
    pipeline = [quantize, qat, "lower"] if qat is not None else f"{quantize},lower"
    return qcompiler.compile(model, target="generic", calibration=calibration, pipeline=pipeline, progress=False)


def numba_accuracy(executor, x, y) -> float:
    predictions = np.concatenate([executor([x[i:i + 256]])[0].argmax(1) for i in range(0, len(x), 256)])
    return float(np.mean(predictions == y))


def bitserial_layers(executor, x) -> int:
    calls = []
    kernels = {name: getattr(products, name) for name in ("run_bitserial_conv", "run_bitserial_linear")}
    for name, fn in kernels.items():
        setattr(products, name, lambda *a, fn=fn: calls.append(1) or fn(*a))
    try:
        executor([x])
    finally:
        for name, fn in kernels.items():
            setattr(products, name, fn)
    return len(calls)


class WideStack(torch.nn.Module):
    """3 -> 64 channels, four 64 -> 64 3×3 conv + ReLU at 32×32, global average, linear 64 -> 10."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        layers = [torch.nn.Conv2d(3, 64, 3, padding=1), torch.nn.ReLU()]
        for _ in range(4):
            layers += [torch.nn.Conv2d(64, 64, 3, padding=1), torch.nn.ReLU()]
        self.features = torch.nn.Sequential(*layers)
        self.fc = torch.nn.Linear(64, 10)

    def forward(self, x):
        return self.fc(self.features(x).mean(dim=(2, 3)))


def model_rows(name, model, data, repeats: int, qat_epochs: int) -> list:
    x_train, y_train, x_test, y_test = data
    calibration = x_train[:256]
    with torch.no_grad():
        float_accuracy = float(np.mean(model(torch.from_numpy(x_test)).argmax(1).numpy() == y_test)) \
            if y_test is not None else None
    compiled = {}
    for width in WIDTHS:
        compiled[width] = compile_at(model, calibration, width)
        if width != "W8A8" and qat_epochs and y_train is not None:
            qat = QAT(method="lsq", epochs=qat_epochs, lr=1e-3, data=(x_train, y_train))
            compiled[f"{width} + QAT"] = compile_at(model, calibration, width, qat)
    executors = {k: NumbaExecutor(cm.graph) for k, cm in compiled.items()}
    batch = x_test[:BATCH]
    timed = {k: (lambda e=e: e([batch])) for k, e in executors.items() if "QAT" not in k}
    samples = interleaved_samples(timed, repeats)
    cpu = {k: sorted(c for _, c in t)[len(t) // 2] * 1e3 for k, t in samples.items()}
    rows = []
    for key, executor in executors.items():
        width = key.split()[0]
        latency = cpu.get(key)
        accuracy = "-" if y_test is None else f"{100 * numba_accuracy(executor, x_test, y_test):.1f}"
        rows.append([name, key, accuracy, "-" if y_test is None else f"{100 * float_accuracy:.1f}",
                     "-" if latency is None else f"{latency:.2f}",
                     "-" if latency is None or width == "W8A8" else f"{cpu['W8A8'] / latency:.2f}",
                     str(bitserial_layers(executor, batch))])
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=10, help="residual CNN training epochs")
    parser.add_argument("--qat-epochs", type=int, default=3, help="0: no QAT rows")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    numba.set_num_threads(1)
    torch.set_num_threads(1)
    load = Path("/proc/loadavg").read_text().split()[:3]
    started = time.time()
    digits = [a.numpy() for a in digits_data()]
    rows = model_rows("digits CNN", train_digits_cnn(), digits, args.repeats, args.qat_epochs)
    if DATA.is_file():
        d = load_mnist5k(DATA)
        resnet = train_resnet(d["x_train"], d["y_train"], epochs=args.epochs)
        rows += model_rows("residual CNN (mnist5k)", resnet, (d["x_train"], d["y_train"], d["x_test"], d["y_test"]),
                           args.repeats, args.qat_epochs)
    noise = np.random.default_rng(0).normal(size=(256 + BATCH, 3, 32, 32)).astype(np.float32)
    rows += model_rows("64-channel conv stack 32×32 (seeded)", WideStack().eval(),
                       (noise[:256], None, noise[256:], None), args.repeats, 0)
    table = markdown_table(["model", "widths", "accuracy %", "float %", f"median CPU ms / batch {BATCH}",
                            "speed-up vs W8A8", "bit-serial layers"], rows, "llrrrrr")
    note = numba_run_note(f"python bench/lowbit_models.py --repeats {args.repeats} --epochs {args.epochs} "
                          f"--qat-epochs {args.qat_epochs}", started, load, FLAGS)
    body = f"{note}\n\n{table}\n"
    print(body)
    if not args.no_write:
        write_section(HEADING, body)


if __name__ == "__main__":
    main()
