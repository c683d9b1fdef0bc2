"""The nine CNNs of onnx's light zoo with seeded random weights (qcompiler/testing/light_zoo.py):
int8 output SQNR against fp32, qcompiler vs onnxruntime's quantize_static, side by side.

    python bench/light_zoo.py [--target x86-vnni] [--method mse] [--models resnet50,vgg19] [--calibration 16]
        [--calibration-seeds 1 3] [--test 128] [--perturb K] [--pipeline PASSES]

Both quantizers calibrate on the same images and are scored on the same other images
against the fp32 model run in onnxruntime: on the model's output (softmax probabilities,
DenseNet's logits) and on the logits its last Softmax reads, which with random weights
say more (a peaked softmax turns small logit errors into large probability errors). qcompiler: the target's default pipeline with
`calibrate{method=<--method>}` (default mse, the targets' own; minmax is ORT's), scored on
its Numba executor (cm(x)) and on its QDQ export run in onnxruntime; `--pipeline` gives
qcompiler's whole pipeline instead (then `--method` is ignored).
onnxruntime: the model converted to opset 13 (quantize_static only goes to 11, where
per-channel DequantizeLinear does not exist), quant_pre_process, quantize_static: QDQ,
activations u8, weights s8 per channel, MinMax. Each quantizer runs in its own process, so peak RSS is its own
(model materialization included); compile time is `qcompiler.compile` /
`quantize_static` wall time on the shared machine.

128 test images by default: one block of 32 moves a deep model's output SQNR by up to 2 dB
with the same compiled model (AlexNet, ShuffleNet, Inception v2 and ResNet50 were each
below onnxruntime on the first 32 and above on 128, bench/RESULTS.md), so fewer images
judge the images more than the quantizers; 128 costs about 3x the scoring time of 32.
16 calibration images by default: with 4, the verdicts mostly measured how well 4 images
predict the test images' ranges (Inception v2 1.6 -> 6.8 dB for both quantizers at 16), and
the default pipeline's drift correction needs 16. `--calibration-seeds` repeats every model
over several calibration draws (same models, same test images) and adds a table of the mean
and min-max per model for both quantizers, the verdict taken on the mean margin.

`--perturb K` also scores both quantizers on K copies of the test images with 1e-4
relative noise, far below one input quantization step: on the deep random-weight models
such a copy moves the output SQNR by several dB (a one-step rounding difference anywhere
is amplified), so the min-max over the draws shows which differences are real.
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


PERTURBATION = 1e-4
DEFAULT_CALIBRATION = "calibrate{method=mse}"


def _perturbed(images: np.ndarray, k: int) -> np.ndarray:
    noise = np.random.default_rng(1000 + k).standard_normal(images.shape, dtype=np.float32)
    return images * (1 + np.float32(PERTURBATION) * noise)


def _spread(model, images: np.ndarray, draws: int, run) -> list:
    """Output SQNR of `run(images)` -> outputs on `draws` perturbed copies of `images`."""
    from qcompiler.numerics.sqnr import sqnr_db

    copies = [_perturbed(images, k) for k in range(1, draws + 1)]
    return [float(sqnr_db(_run_onnx(model, x)[0], run(x))) for x in copies]


TEST_SEED = 2


def run_qcompiler(name: str, target: str, pipeline: str, n_cal: int, n_test: int, draws: int = 0,
                  seed: int = 1) -> dict:
    import onnx

    import qcompiler
    from qcompiler.testing.light_zoo import compiled_logits, light_images, light_model

    model = light_model(name)
    calibration, test = light_images(n_cal, seed=seed), light_images(n_test, seed=TEST_SEED)
    reference = _run_onnx(model, test)
    start = time.perf_counter()
    cm = qcompiler.compile(model, target=target, calibration=calibration, pipeline=pipeline, progress=False,
                           dynamic_batch=False)
    seconds = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    ours = np.concatenate([cm(test[i:i + 1]) for i in range(n_test)]), compiled_logits(cm, test)
    with tempfile.TemporaryDirectory() as d:
        exported = {form: _run_onnx(onnx.load(cm.export_onnx(Path(d) / f"{form}.onnx", form=form)), test)
                    for form in ("qdq", "qoperator")}
    opaque = sorted({n.op for n in cm.graph.nodes if n.op.startswith("onnx.")})
    spread = _spread(model, test, draws, lambda x: np.concatenate([cm(x[i:i + 1]) for i in range(len(x))]))
    return {"numba": _score(reference, ours), **{form: _score(reference, out) for form, out in exported.items()},
            "seconds": seconds, "rss_gb": rss, "opaque": opaque, "spread": spread}


def run_onnxruntime(name: str, n_cal: int, n_test: int, draws: int = 0, seed: int = 1) -> dict:
    import onnx.version_converter

    from _ort_ptq import preprocess, quantize_u8s8
    from qcompiler.testing.light_zoo import light_images, light_model

    model = light_model(name)
    calibration, test = light_images(n_cal, seed=seed), light_images(n_test, seed=TEST_SEED)
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
        int8 = onnx.load(quantized)
        got = _run_onnx(int8, test)
        spread = _spread(model, test, draws, lambda x: _run_onnx(int8, x)[0])
    return {"ort": _score(reference, got), "seconds": seconds, "rss_gb": rss, "spread": spread}


def qcompiler_pipeline(target: str, method: str) -> str:
    """The target's default pipeline with `calibrate{method=<method>}`."""
    from qcompiler.targets import get_target

    default = get_target(target).default_pipeline
    if DEFAULT_CALIBRATION not in default:
        raise SystemExit(f"target {target}'s default pipeline has no {DEFAULT_CALIBRATION} to replace: {default}")
    return default.replace(DEFAULT_CALIBRATION, f"calibrate{{method={method}}}")


def _child(args, which: str, name: str, seed: int) -> dict:
    cmd = [sys.executable, __file__, "--child", which, "--models", name, "--target", args.target,
           "--pipeline", args.pipeline, "--calibration-seeds", str(seed),
           "--calibration", str(args.calibration), "--test", str(args.test), "--perturb", str(args.perturb)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["?"])[-1][:160]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    from qcompiler.testing.light_zoo import LIGHT_ZOO

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", default="x86-vnni")
    parser.add_argument("--method", default="mse", help="qcompiler's calibration method")
    parser.add_argument("--pipeline",
                        help="qcompiler's whole pipeline (default: the target's, with calibrate{method=--method})")
    parser.add_argument("--models", default=",".join(LIGHT_ZOO))
    parser.add_argument("--calibration", type=int, default=16, help="calibration images")
    parser.add_argument("--calibration-seeds", type=int, nargs="+", default=[1],
                        help=f"draw the calibration images with each of these seeds (not the test images' {TEST_SEED})")
    parser.add_argument("--test", type=int, default=128,
                        help="test images (fewer than ~128 judge the images more than the quantizers)")
    parser.add_argument("--perturb", type=int, default=0, help="also score on this many perturbed test copies")
    parser.add_argument("--child", choices=["qcompiler", "onnxruntime"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.pipeline = args.pipeline or qcompiler_pipeline(args.target, args.method)
    if TEST_SEED in args.calibration_seeds:
        parser.error(f"--calibration-seeds: {TEST_SEED} draws the test images; calibrate on other images")
    seed = args.calibration_seeds[0]
    if args.child == "qcompiler":
        print(json.dumps(run_qcompiler(args.models, args.target, args.pipeline, args.calibration, args.test,
                                       args.perturb, seed)))
        return
    if args.child == "onnxruntime":
        print(json.dumps(run_onnxruntime(args.models, args.calibration, args.test, args.perturb, seed)))
        return
    print(f"CPU: {cpu_description()}")
    print(f"target {args.target}, qcompiler {args.pipeline}; {args.calibration} calibration images (seeds "
          f"{' '.join(map(str, args.calibration_seeds))}), {args.test} test images (seed {TEST_SEED})\n")
    header, align = (HEADER + [SPREAD.format(args.perturb)], ALIGN + "r") if args.perturb else (HEADER, ALIGN)
    header, align = ["calibration seed"] + header, "r" + align
    rows, runs = [], {}
    for name in args.models.split(","):
        for seed in args.calibration_seeds:
            ours, theirs = _child(args, "qcompiler", name, seed), _child(args, "onnxruntime", name, seed)
            runs.setdefault(name, []).append((ours, theirs))
            rows.append([seed] + _row(name, ours, theirs) + ([_spread_cell(ours, theirs)] if args.perturb else []))
            print(markdown_table(header, rows[-1:], align).splitlines()[-1], flush=True)
    print()
    print(markdown_table(header, rows, align))
    if len(args.calibration_seeds) > 1:
        print()
        print(markdown_table(SEEDS_HEADER, [_seeds_row(name, pairs) for name, pairs in runs.items()], SEEDS_ALIGN))


HEADER = ["model", "output SQNR dB: qcompiler (Numba)", "qcompiler (QDQ / QOperator in ORT)", "ORT quantize_static",
          "logits SQNR dB: qcompiler / ORT", "top-1 agree qc / ORT", "qcompiler compile s", "ORT quantize s",
          "peak RSS GB qc / ORT", "output qc − ORT dB", "goal met"]


ALIGN = "lrrrrrrrrrc"
SPREAD = "output SQNR dB over {} perturbed copies, min–max: qcompiler (Numba) / ORT"


SEEDS_HEADER = ["model", "output SQNR dB qcompiler (Numba): mean (min–max)", "ORT: mean (min–max)",
                "qc − ORT dB: mean (min–max)", "logits SQNR dB mean: qc / ORT", "qcompiler compile s (max)",
                "peak RSS GB (max): qc / ORT", "seeds qc ≥ ORT", "goal met on the mean"]
SEEDS_ALIGN = "lrrrrrrrc"


def _seeds_row(name: str, pairs: list) -> list:
    """One model over the calibration seeds; a failed run fails the row."""
    if any("error" in d for pair in pairs for d in pair):
        return [name, "a run failed (see above)", "", "", "", "", "", "", "no"]
    qc = np.array([ours["numba"]["sqnr"] for ours, _ in pairs])
    ort = np.array([theirs["ort"]["sqnr"] for _, theirs in pairs])
    margin = qc - ort
    logits = [np.mean([ours["numba"]["logits"] for ours, _ in pairs]), np.mean([t["ort"]["logits"] for _, t in pairs])]

    def spread(x, sign=""):
        return f"{x.mean():{sign}.2f} ({x.min():{sign}.2f}–{x.max():{sign}.2f})"

    return [name, spread(qc), spread(ort), spread(margin, "+"), f"{logits[0]:.1f} / {logits[1]:.1f}",
            f"{max(ours['seconds'] for ours, _ in pairs):.0f}",
            f"{max(o['rss_gb'] for o, _ in pairs):.2f} / {max(t['rss_gb'] for _, t in pairs):.2f}",
            f"{int((margin >= 0).sum())} of {len(pairs)}", "yes" if margin.mean() >= 0 else "no"]


def _spread_cell(ours: dict, theirs: dict) -> str:
    if "error" in ours or "error" in theirs:
        return ""
    return " / ".join(f"{min(d['spread']):.2f}–{max(d['spread']):.2f}" for d in (ours, theirs))


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
