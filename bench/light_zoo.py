"""The nine CNNs of onnx's light zoo with seeded random weights (qcompiler/testing/light_zoo.py):
int8 output SQNR against fp32, qcompiler vs onnxruntime's quantize_static, side by side.

    python bench/light_zoo.py [--target x86-vnni] [--models resnet50,vgg19] [--calibration 4] [--test 8]

Both quantizers calibrate on the same images and are scored on the same other images
against the fp32 model run in onnxruntime. qcompiler: the target's default pipeline,
scored on its Numba executor (cm(x)) and on its QDQ export run in onnxruntime.
onnxruntime: the model converted to opset 13 (quantize_static only goes to 11, where
per-channel DequantizeLinear does not exist), quant_pre_process, quantize_static: QDQ,
activations u8, weights s8 per channel, MinMax. Each quantizer runs in its own process, so peak RSS is its own
(model materialization included); compile time is `qcompiler.compile` /
`quantize_static` wall time on the shared machine.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import cpu_description, markdown_table  # noqa: E402


def _reference(model, images: np.ndarray) -> np.ndarray:
    from _ort_ptq import predictor, session

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "fp32.onnx"
        path.write_bytes(model.SerializeToString())
        run = predictor(session(path, 0))
        return np.concatenate([run(images[i:i + 1]) for i in range(len(images))])


def _score(reference: np.ndarray, got: np.ndarray) -> dict:
    from qcompiler.numerics.sqnr import sqnr_db

    top1 = reference.reshape(len(reference), -1).argmax(1) == got.reshape(len(got), -1).argmax(1)
    return {"sqnr": float(sqnr_db(reference, got)), "top1": float(top1.mean())}


def run_qcompiler(name: str, target: str, n_cal: int, n_test: int) -> dict:
    import qcompiler
    from _ort_ptq import predictor, session
    from qcompiler.testing.light_zoo import light_images, light_model

    model = light_model(name)
    calibration, test = light_images(n_cal, seed=1), light_images(n_test, seed=2)
    reference = _reference(model, test)
    start = time.perf_counter()
    cm = qcompiler.compile(model, target=target, calibration=calibration, progress=False, dynamic_batch=False)
    seconds = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    ours = np.concatenate([cm(test[i:i + 1]) for i in range(n_test)])
    with tempfile.TemporaryDirectory() as d:
        path = cm.export_onnx(Path(d) / "qdq.onnx", form="qdq")
        run = predictor(session(path, 0))
        exported = np.concatenate([run(test[i:i + 1]) for i in range(n_test)])
    opaque = sorted({n.op for n in cm.graph.nodes if n.op.startswith("onnx.")})
    return {"numba": _score(reference, ours), "qdq": _score(reference, exported), "seconds": seconds,
            "rss_gb": rss, "opaque": opaque}


def run_onnxruntime(name: str, n_cal: int, n_test: int) -> dict:
    import onnx.version_converter

    from _ort_ptq import predictor, preprocess, quantize_u8s8, session
    from qcompiler.testing.light_zoo import light_images, light_model

    model = light_model(name)
    calibration, test = light_images(n_cal, seed=1), light_images(n_test, seed=2)
    reference = _reference(model, test)
    with tempfile.TemporaryDirectory() as d:
        fp32 = Path(d) / "fp32.onnx"
        start = time.perf_counter()
        # quantize_static upgrades opset 9 only to 11, where DequantizeLinear has no per-channel axis
        fp32.write_bytes(onnx.version_converter.convert_version(model, 13).SerializeToString())
        prepared = preprocess(fp32, Path(d) / "prepared.onnx")
        quantized = quantize_u8s8(prepared, Path(d) / "int8.onnx", "QDQ", "MinMax", calibration, batch=1)
        seconds = time.perf_counter() - start
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        run = predictor(session(quantized, 0))
        got = np.concatenate([run(test[i:i + 1]) for i in range(n_test)])
    return {"ort": _score(reference, got), "seconds": seconds, "rss_gb": rss}


def _child(args, which: str, name: str) -> dict:
    cmd = [sys.executable, __file__, "--child", which, "--models", name, "--target", args.target,
           "--calibration", str(args.calibration), "--test", str(args.test)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["?"])[-1][:160]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    from qcompiler.testing.light_zoo import LIGHT_ZOO

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", default="x86-vnni")
    parser.add_argument("--models", default=",".join(LIGHT_ZOO))
    parser.add_argument("--calibration", type=int, default=4, help="calibration images")
    parser.add_argument("--test", type=int, default=8, help="test images")
    parser.add_argument("--child", choices=["qcompiler", "onnxruntime"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "qcompiler":
        print(json.dumps(run_qcompiler(args.models, args.target, args.calibration, args.test)))
        return
    if args.child == "onnxruntime":
        print(json.dumps(run_onnxruntime(args.models, args.calibration, args.test)))
        return
    print(f"CPU: {cpu_description()}")
    print(f"target {args.target}; {args.calibration} calibration images (seed 1), {args.test} test images (seed 2)\n")
    rows = []
    for name in args.models.split(","):
        ours, theirs = _child(args, "qcompiler", name), _child(args, "onnxruntime", name)
        rows.append(_row(name, ours, theirs))
        print(markdown_table(HEADER, rows[-1:], "lrrrrrrrrrc").splitlines()[-1], flush=True)
    print()
    print(markdown_table(HEADER, rows, "lrrrrrrrrrc"))


HEADER = ["model", "qcompiler SQNR dB (Numba)", "qcompiler SQNR dB (QDQ in ORT)", "ORT quantize_static SQNR dB",
          "top-1 agree qc / ORT", "qcompiler compile s", "ORT quantize s", "qcompiler peak RSS GB",
          "ORT peak RSS GB", "qc − ORT dB", "goal met"]


def _row(name: str, ours: dict, theirs: dict) -> list:
    if "error" in ours or "error" in theirs:
        return [name, ours.get("error", ""), "", theirs.get("error", ""), "", "", "", "", "", "", "no"]
    margin = ours["numba"]["sqnr"] - theirs["ort"]["sqnr"]
    return [name, f"{ours['numba']['sqnr']:.1f}", f"{ours['qdq']['sqnr']:.1f}", f"{theirs['ort']['sqnr']:.1f}",
            f"{ours['numba']['top1']:.2f} / {theirs['ort']['top1']:.2f}", f"{ours['seconds']:.0f}",
            f"{theirs['seconds']:.0f}", f"{ours['rss_gb']:.2f}", f"{theirs['rss_gb']:.2f}", f"{margin:+.1f}",
            "yes" if margin >= 0 else "no"]


if __name__ == "__main__":
    main()
