"""Data-free calibration (passes/datafree, docs/datafree.md) against real calibration data.

    python bench/datafree.py [--data PATH] [--epochs 10] [--samples 128] [--cls-samples 16] [--cls-steps 60] [--write]

1. The digits residual CNN (bench/_mnist_resnet.py, trained as bench/ptq_peers.py trains it):
   top-1 on the 1,000 mnist5k test digits after calibrate{method=mse} on 256 real training
   images, on ZeroQ / ZS-CGAN samples made from the model's BatchNorm statistics, and on
   Gaussian noise (the floor); weights per channel at 8, 4 and 3 bits, activations u8, at 4
   and 3 bits also with bias-correct (which reads the same calibration data).
2. The PP-OCR direction classifier (rapidocr_onnxruntime, 35 BatchNormalization nodes):
   output SQNR and class agreement with the float model on 128 synthetic text lines after
   int8 calibration on other text lines (real-ish data) or on ZeroQ / ZS-CGAN samples.

Accuracy is measured on the fake-quant graph in the torch executor (the integer graph
agrees with it to rounding; docs/quantization.md). 3-bit weights have no storage type of
their own: they are rounded to a 3-bit MSE grid per channel and stored in i4 with a range
that makes the i4 integers the 3-bit ones (`three_bit_weights`).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_description, markdown_table, write_section  # noqa: E402
from _mnist_resnet import load_mnist5k, train_resnet  # noqa: E402
from qcompiler.testing.text_lines import stroke_lines  # noqa: E402

from qcompiler.ir.clone import clone  # noqa: E402
from qcompiler.ir.dense import Dense  # noqa: E402
from qcompiler.model.loading import load_model  # noqa: E402
from qcompiler.numerics.sqnr import sqnr_db  # noqa: E402
from qcompiler.passes.datafree import SyntheticCalibration  # noqa: E402
from qcompiler.passes.datafree.cgan import CGANOptions  # noqa: E402
from qcompiler.passes.datafree.zeroq import ZeroQOptions  # noqa: E402
from qcompiler.passmanager import PassContext, PassManager  # noqa: E402
from qcompiler.runtime.torch import run_torch  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "mnist5k.npz"
HEADING = "Data-free calibration from BatchNorm statistics (ZeroQ, ZS-CGAN)"
PREPARE = "fold-constants,canonicalize,fold-bn,fuse-activations,dce,calibrate{method=mse}"
REAL_IMAGES = 256
SETTINGS = [("W8A8", 8, False), ("W4A8", 4, False), ("W4A8 + bias-correct", 4, True),
            ("W3A8", 3, False), ("W3A8 + bias-correct", 3, True)]


def three_bit_weights(graph) -> list:
    """Clip every conv / linear weight to a symmetric 3-bit grid per output channel (levels
    -3..3, step chosen by MSE) and write the i4 range +-7 steps, so quantize{weights=i4}
    rounds it to exactly the 3-bit integers. (const node, original weight) pairs: bias-correct
    must measure the error against the original, not the clipped weight."""
    originals = []
    for node in graph.nodes:
        if node.op not in ("conv2d", "linear") or node.inputs[1].producer.op != "const":
            continue
        const = node.inputs[1].producer
        w = np.asarray(const.attrs["value"].array, np.float32)
        rows = w.reshape(len(w), -1)
        step = np.array([_mse_step(r) for r in rows], np.float32)[:, None]
        const.attrs["value"] = Dense(np.clip(rows, -3 * step, 3 * step).reshape(w.shape).astype(np.float32))
        const.attrs["q.range"] = Dense(np.concatenate([-7 * step, 7 * step], 1).astype(np.float32))
        const.attrs.pop("q.range_bits", None)
        originals.append((const, w))
    return originals


def _mse_step(row: np.ndarray) -> float:
    top = float(np.abs(row).max()) or 1.0
    steps = top / 3 * np.linspace(0.2, 1.0, 81)
    errors = [np.square(row - np.clip(np.round(row / s), -3, 3) * s).mean() for s in steps]
    return float(steps[int(np.argmin(errors))])


def calibrated(imported, calibration):
    """The float graph after fold-bn and calibrate, with the context its data came in."""
    graph = clone(imported)
    ctx = PassContext(calibration=calibration)
    PassManager(PREPARE).run(graph, ctx)
    return graph, ctx


def quantized(prepared, bits: int, bias_correct: bool):
    graph, ctx = clone(prepared[0]), prepared[1]
    originals = three_bit_weights(graph) if bits == 3 else []
    PassManager(f"quantize{{weights={'i8' if bits == 8 else 'i4'}}}").run(graph, ctx)
    for const, w in originals:
        const.meta["float_value"] = w  # what quantize keeps for bias-correct
    if bias_correct:
        PassManager("bias-correct{samples=256}").run(graph, ctx)
    return graph


def predict(graph, x: np.ndarray, batch: int = 250) -> np.ndarray:
    return np.concatenate([run_torch(graph, [x[i:i + batch]])[0] for i in range(0, len(x), batch)])


def digits_table(args) -> tuple[str, list]:
    data = load_mnist5k(args.data)
    model = train_resnet(data["x_train"], data["y_train"], epochs=args.epochs)
    imported = load_model(model, torch.from_numpy(data["x_test"][:1]), dynamic_batch=True)
    x, y = data["x_test"], data["y_test"]
    float_top1 = float((predict(imported, x).argmax(1) == y).mean() * 100)
    sources = {f"real: {REAL_IMAGES} training images": (data["x_train"][:REAL_IMAGES], 0.0),
               f"Gaussian noise: {args.samples} samples": (
                   np.random.default_rng(0).standard_normal((args.samples, 1, 28, 28)).astype(np.float32), 0.0)}
    for generator in ("zeroq", "cgan"):
        source = SyntheticCalibration(imported, generator, args.samples, seed=0)
        start = time.perf_counter()
        arrays = source.calibration_arrays(imported)
        sources[f"{generator}: {args.samples} synthetic samples"] = (arrays[imported.inputs[0].name],
                                                                      time.perf_counter() - start)
    rows, top1 = [], {}
    for name, (calibration, seconds) in sources.items():
        row, prepared = [name, f"{seconds:.0f}"], calibrated(imported, calibration)
        for label, bits, bias_correct in SETTINGS:
            graph = quantized(prepared, bits, bias_correct)
            top1[name, label] = float((predict(graph, x).argmax(1) == y).mean() * 100)
            row.append(f"{top1[name, label]:.1f}")
        rows.append(row)
        print(row, flush=True)
    header = ["calibration data", "synthesis s"] + [label for label, _, _ in SETTINGS]
    table = markdown_table(header, rows, "ll" + "r" * len(SETTINGS))
    real = next(iter(sources))
    zeroq = next(k for k in sources if k.startswith("zeroq"))
    goals = [f"- int8: ZeroQ {top1[zeroq, 'W8A8']:.1f} vs real {top1[real, 'W8A8']:.1f} (goal: within 0.5 pt): "
             f"{'met' if top1[real, 'W8A8'] - top1[zeroq, 'W8A8'] <= 0.5 else 'NOT met'}",
             f"- 4 bits (best of with / without bias-correct): ZeroQ "
             f"{max(top1[zeroq, 'W4A8'], top1[zeroq, 'W4A8 + bias-correct']):.1f} vs real "
             f"{max(top1[real, 'W4A8'], top1[real, 'W4A8 + bias-correct']):.1f} (goal: within 2 pt): "
             + ("met" if max(top1[real, 'W4A8'], top1[real, 'W4A8 + bias-correct'])
                - max(top1[zeroq, 'W4A8'], top1[zeroq, 'W4A8 + bias-correct']) <= 2 else "NOT met")]
    return f"fp32 top-1: {float_top1:.1f}%\n\n{table}\n\n" + "\n".join(goals), rows


def classifier_table(args) -> str:
    import rapidocr_onnxruntime

    path = Path(rapidocr_onnxruntime.__file__).parent / "models" / "ch_ppocr_mobile_v2.0_cls_infer.onnx"
    imported = load_model(str(path))
    test = stroke_lines(128, 1)
    reference = predict(imported, test, batch=64)
    example = test[:1]
    sources = {f"text lines (real-ish): {args.cls_samples}": (stroke_lines(args.cls_samples, 0), 0.0)}
    for generator, options in (("zeroq", ZeroQOptions(steps=args.cls_steps, batch=16)),
                               ("cgan", CGANOptions(steps=args.cls_steps, batch=16, width=16))):
        source = SyntheticCalibration(imported, generator, args.cls_samples, seed=0, example_inputs=example,
                                      options=options)
        start = time.perf_counter()
        arrays = source.calibration_arrays(imported)
        sources[f"{generator}: {args.cls_samples} synthetic samples"] = (arrays[imported.inputs[0].name],
                                                                          time.perf_counter() - start)
    rows = []
    for name, (calibration, seconds) in sources.items():
        out = predict(quantized(calibrated(imported, calibration), 8, False), test, batch=64)
        rows.append([name, f"{seconds:.0f}", f"{sqnr_db(reference, out):.1f}",
                     f"{(out.argmax(1) == reference.argmax(1)).mean() * 100:.1f}"])
        print(rows[-1], flush=True)
    return markdown_table(["calibration data", "synthesis s", "output SQNR dB", "class agreement %"], rows, "llrr")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--samples", type=int, default=128, help="synthetic samples for the digits CNN")
    parser.add_argument("--cls-samples", type=int, default=16, help="calibration samples for the PP-OCR classifier")
    parser.add_argument("--cls-steps", type=int, default=60,
                        help="synthesis steps for the classifier (a step at 48x192 costs ~2 s on one thread)")
    parser.add_argument("--write", action="store_true", help="put the tables in bench/RESULTS.md")
    args = parser.parse_args()
    if not args.data.is_file():
        print(f"datafree: skipped, no data at {args.data}")
        return 0
    torch.set_num_threads(1)
    start = time.perf_counter()
    digits, _ = digits_table(args)
    cls = classifier_table(args)
    command = (f"python bench/datafree.py --epochs {args.epochs} --samples {args.samples} "
               f"--cls-samples {args.cls_samples} --cls-steps {args.cls_steps}" + (" --write" if args.write else ""))
    seconds = time.perf_counter() - start
    body = f"""Command (from the repository root): `{command}` ({cpu_description()}; {seconds:.0f} s in all)

Digits residual CNN (bench/_mnist_resnet.py, {args.epochs} epochs, seed 0), top-1 % on the 1,000 mnist5k test
digits; `calibrate{{method=mse}}` then `quantize` (weights per channel, activations u8 per tensor);
bias-correct reads the same calibration data (256 samples at most). Synthetic samples: ZeroQ 200
steps per batch of 32, ZS-CGAN 400 generator steps (batch 32, width 32), seed 0, one torch thread
(the library defaults).
Accuracy on the fake-quant graph (torch executor). 3-bit weights: a 3-bit MSE grid per channel
stored in i4 (bench/datafree.py, `three_bit_weights`); bias-correct measures their error
against the original weights.

{digits}

PP-OCR direction classifier (ch_ppocr_mobile_v2.0_cls, 35 BatchNormalization nodes), W8A8:
output (softmax) SQNR and class agreement against the float model on 128 synthetic text lines
(seed 1, qcompiler.testing.text_lines.stroke_lines); calibration on other text lines or on synthetic samples
made from its BN statistics at 48x192 ({args.cls_steps} steps, batch 16, generator width 16: a
step costs seconds at that size, so far fewer than the defaults).

{cls}
"""
    print(body)
    if args.write:
        write_section(HEADING, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
