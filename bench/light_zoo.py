"""The nine CNNs of onnx's light zoo with seeded random weights (qcompiler/testing/light_zoo.py):
int8 output SQNR against fp32, qcompiler vs onnxruntime's quantize_static, side by side.

    python bench/light_zoo.py [--target x86-vnni] [--method minmax] [--models resnet50,vgg19] [--calibration 4] [--test 8]

Both quantizers calibrate on the same images and are scored on the same other images
against the fp32 model run in onnxruntime: on the model's output (softmax probabilities,
DenseNet's logits) and on the logits its last Softmax reads, which with random weights
say more (a peaked softmax turns small logit errors into large probability errors). qcompiler: the target's default pipeline with
`calibrate{method=<--method>}` (default minmax, like ORT's; the targets' own default is
mse), scored on its Numba executor (cm(x)) and on its QDQ export run in onnxruntime.
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


def _run_onnx(model, images: np.ndarray) -> tuple:
    """(outputs, logits) of `model` in onnxruntime, one image at a time."""
    from _ort_ptq import session
    from qcompiler.testing.light_zoo import with_logits_output

    probed, logits = with_logits_output(model)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "model.onnx"
        path.write_bytes(probed.SerializeToString())
        sess = session(path, 0)
        feed = sess.get_inputs()[0].name
        runs = [sess.run([model.graph.output[0].name, logits], {feed: images[i:i + 1]}) for i in range(len(images))]
    return np.concatenate([r[0] for r in runs]), np.concatenate([r[1] for r in runs])


def _score(reference: tuple, got: tuple) -> dict:
    from qcompiler.numerics.sqnr import sqnr_db

    (ref, ref_logits), (out, logits) = reference, got
    top1 = ref.reshape(len(ref), -1).argmax(1) == out.reshape(len(out), -1).argmax(1)
    return {"sqnr": float(sqnr_db(ref, out)), "logits": float(sqnr_db(ref_logits.reshape(logits.shape), logits)),
            "top1": float(top1.mean())}


def run_qcompiler(name: str, target: str, method: str, n_cal: int, n_test: int) -> dict:
    import onnx

    import qcompiler
    from qcompiler.targets import get_target
    from qcompiler.testing.light_zoo import compiled_logits, light_images, light_model

    model = light_model(name)
    calibration, test = light_images(n_cal, seed=1), light_images(n_test, seed=2)
    reference = _run_onnx(model, test)
    start = time.perf_counter()
    pipeline = get_target(target).default_pipeline.replace("calibrate{method=mse}", f"calibrate{{method={method}}}")
    cm = qcompiler.compile(model, target=target, calibration=calibration, pipeline=pipeline, progress=False,
                           dynamic_batch=False)
    seconds = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    ours = np.concatenate([cm(test[i:i + 1]) for i in range(n_test)]), compiled_logits(cm, test)
    with tempfile.TemporaryDirectory() as d:
        exported = {form: _run_onnx(onnx.load(cm.export_onnx(Path(d) / f"{form}.onnx", form=form)), test)
                    for form in ("qdq", "qoperator")}
    opaque = sorted({n.op for n in cm.graph.nodes if n.op.startswith("onnx.")})
    return {"numba": _score(reference, ours), **{form: _score(reference, out) for form, out in exported.items()},
            "seconds": seconds, "rss_gb": rss, "opaque": opaque}


def run_onnxruntime(name: str, n_cal: int, n_test: int) -> dict:
    import onnx.version_converter

    from _ort_ptq import preprocess, quantize_u8s8
    from qcompiler.testing.light_zoo import light_images, light_model

    model = light_model(name)
    calibration, test = light_images(n_cal, seed=1), light_images(n_test, seed=2)
    reference = _run_onnx(model, test)
    with tempfile.TemporaryDirectory() as d:
        fp32 = Path(d) / "fp32.onnx"
        start = time.perf_counter()
        # quantize_static upgrades opset 9 only to 11, where DequantizeLinear has no per-channel axis
        fp32.write_bytes(onnx.version_converter.convert_version(model, 13).SerializeToString())
        prepared = preprocess(fp32, Path(d) / "prepared.onnx")
        quantized = quantize_u8s8(prepared, Path(d) / "int8.onnx", "QDQ", "MinMax", calibration, batch=1)
        seconds = time.perf_counter() - start
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        got = _run_onnx(onnx.load(quantized), test)
    return {"ort": _score(reference, got), "seconds": seconds, "rss_gb": rss}


def _child(args, which: str, name: str) -> dict:
    cmd = [sys.executable, __file__, "--child", which, "--models", name, "--target", args.target, "--method", args.method,
           "--calibration", str(args.calibration), "--test", str(args.test)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["?"])[-1][:160]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    from qcompiler.testing.light_zoo import LIGHT_ZOO

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", default="x86-vnni")
    parser.add_argument("--method", default="minmax", help="qcompiler's calibration method")
    parser.add_argument("--models", default=",".join(LIGHT_ZOO))
    parser.add_argument("--calibration", type=int, default=4, help="calibration images")
    parser.add_argument("--test", type=int, default=8, help="test images")
    parser.add_argument("--child", choices=["qcompiler", "onnxruntime"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "qcompiler":
        print(json.dumps(run_qcompiler(args.models, args.target, args.method, args.calibration, args.test)))
        return
    if args.child == "onnxruntime":
        print(json.dumps(run_onnxruntime(args.models, args.calibration, args.test)))
        return
    print(f"CPU: {cpu_description()}")
    print(f"target {args.target}, qcompiler calibrate{{method={args.method}}}; {args.calibration} calibration "
          f"images (seed 1), {args.test} test images (seed 2)\n")
    rows = []
    for name in args.models.split(","):
        ours, theirs = _child(args, "qcompiler", name), _child(args, "onnxruntime", name)
        rows.append(_row(name, ours, theirs))
        print(markdown_table(HEADER, rows[-1:], ALIGN).splitlines()[-1], flush=True)
    print()
    print(markdown_table(HEADER, rows, ALIGN))


HEADER = ["model", "output SQNR dB: qcompiler (Numba)", "qcompiler (QDQ / QOperator in ORT)", "ORT quantize_static",
          "logits SQNR dB: qcompiler / ORT", "top-1 agree qc / ORT", "qcompiler compile s", "ORT quantize s",
          "peak RSS GB qc / ORT", "output qc − ORT dB", "goal met"]


ALIGN = "lrrrrrrrrrc"


def _row(name: str, ours: dict, theirs: dict) -> list:
    if "error" in ours or "error" in theirs:
        return [name, ours.get("error", ""), "", theirs.get("error", ""), "", "", "", "", "", "", "no"]
    qc, ort = ours["numba"], theirs["ort"]
    margin = qc["sqnr"] - ort["sqnr"]
    return [name, f"{qc['sqnr']:.2f}", f"{ours['qdq']['sqnr']:.2f} / {ours['qoperator']['sqnr']:.2f}", f"{ort['sqnr']:.2f}",
            f"{qc['logits']:.1f} / {ort['logits']:.1f}", f"{qc['top1']:.2f} / {ort['top1']:.2f}",
            f"{ours['seconds']:.0f}", f"{theirs['seconds']:.0f}", f"{ours['rss_gb']:.2f} / {theirs['rss_gb']:.2f}",
            f"{margin:+.2f}", "yes" if margin >= 0 else "no"]


if __name__ == "__main__":
    main()
