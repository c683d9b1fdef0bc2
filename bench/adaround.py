"""Learned weight rounding vs rounding to nearest: the digits CNN at W2A8 and W4A8, the
PP-OCR direction classifier (rapidocr) at W4A8.

    python bench/adaround.py [--iters 300] [--cls-samples 32] [--write]

Each row is one pipeline: `fold-bn,...,calibrate{method=mse},quantize{weights=iN}`
followed by nothing (nearest), `adaround` (per layer, AdaRound) or
`adaround{scope=block,block_layers=2}` (BRECQ-style blocks). Scores are of the
fake-quant graph run by the torch executor against the float model, on held-out
inputs: output SQNR, top-1 accuracy (digits, true labels) or agreement with the float
model's class (cls, synthetic text lines: the orientation classes are arbitrary there).
Time is the whole pipeline's wall time on the shared machine, one torch thread.
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
from qcompiler.testing.text_lines import stroke_lines  # noqa: E402

PREPARE = "fold-constants,canonicalize,fold-bn,fuse-activations,dce,calibrate{method=mse},"


def models(cls_samples: int):
    """name -> (load, calibration, test inputs, labels or None)."""
    from qcompiler.cli.demo import load_demo_model
    from qcompiler.model.loading import load_model
    from qcompiler.testing.zoo import digits_data

    x_train, _, x_test, y_test = digits_data()
    calibration = x_train[:256].numpy()
    yield "digits", (lambda: load_model(load_demo_model(), torch.from_numpy(calibration[:1]), dynamic_batch=True),
                     calibration, x_test.numpy(), y_test.numpy())
    import rapidocr_onnxruntime

    cls = Path(rapidocr_onnxruntime.__file__).parent / "models" / "ch_ppocr_mobile_v2.0_cls_infer.onnx"
    yield "cls", (lambda: load_model(str(cls)), stroke_lines(cls_samples, 0), stroke_lines(128, 1), None)


def measure(load, calibration, test, labels, pipeline: str) -> dict:
    from qcompiler.numerics.sqnr import sqnr_db
    from qcompiler.passmanager import PassContext, PassManager
    from qcompiler.runtime.torch import run_torch

    reference = run_torch(load(), [test])[0]
    graph = load()
    start = time.perf_counter()
    PassManager(PREPARE + pipeline).run(graph, PassContext(calibration=calibration))
    seconds = time.perf_counter() - start
    out = run_torch(graph, [test])[0]
    truth = labels if labels is not None else reference.argmax(1)
    return {"sqnr": sqnr_db(reference, out), "top1": float((out.argmax(1) == truth).mean()), "time": seconds}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iters", type=int, default=300)
    parser.add_argument("--cls-samples", type=int, default=32)
    parser.add_argument("--write", action="store_true", help="write the table into bench/RESULTS.md")
    args = parser.parse_args()
    torch.set_num_threads(1)
    roundings = {"nearest": "", "adaround": f",adaround{{iters={args.iters}}}",
                 "brecq": f",adaround{{iters={args.iters},scope=block,block_layers=2}}"}
    settings = [("digits", "i2"), ("digits", "i4"), ("cls", "i4")]
    rows = []
    loaded = dict(models(args.cls_samples))
    for name, weights in settings:
        load, calibration, test, labels = loaded[name]
        for rounding, extra in roundings.items():
            r = measure(load, calibration, test, labels, f"quantize{{weights={weights}}}{extra}")
            rows.append([name, f"W{weights[1:]}A8", rounding, f"{r['sqnr']:.2f}", f"{100 * r['top1']:.1f}%",
                         f"{r['time']:.1f}"])
            print(" | ".join(rows[-1]), flush=True)
    table = markdown_table(["model", "bits", "rounding", "output SQNR dB", "top-1 / agreement", "pipeline s"],
                           rows, "lllrrr")
    command = f"python bench/adaround.py --iters {args.iters} --cls-samples {args.cls_samples}"
    body = (f"`{command}` ({cpu_description()})\n\nCalibration: digits 256 training images, cls "
            f"{args.cls_samples} synthetic text lines; scored on 359 digits test images / 128 other text lines. "
            f"digits top-1 is against the true labels (float: 98.1%), cls agreement with the float model's class.\n\n"
            + table)
    print(body)
    if args.write:
        write_section("Learned weight rounding (adaround, BRECQ blocks) vs nearest", body)


if __name__ == "__main__":
    main()
