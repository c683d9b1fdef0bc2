"""Text-recognition accuracy of int8 PP-OCRv4 rec (rapidocr_onnxruntime's model) on
rendered English text lines: fp32, onnxruntime quantize_static and qcompiler, in one run.

    python bench/ocr_accuracy.py [--lines 200] [--calib-lines 64] [--width dynamic|320]
        [--ort MinMax,Entropy] [--methods minmax,percentile,kl,mse] [--target x86-vnni]
        [--accuracy-control 0.01 [--validation-lines 32] [--ac-metric frames|chars|lines]]
        [--clip-search 'clip-search{...}']

Lines are drawn by qcompiler.testing.text_lines (calibration and test lines from different
seeds) and scored as rapidocr reads them (qcompiler.testing.ctc_recognizer): batches of 8
lines sorted by aspect ratio, right-padded to the widest (at least 320 px) with
`--width dynamic`, or every line squeezed into 320 px with `--width 320`. qcompiler's
models are scored through their exported QDQ ONNX (`--runner onnx`, the fast path) or
the Numba integer kernels (`--runner numba`). onnxruntime's Entropy and Percentile
calibrators peak near 13 GB on this model: ask for them explicitly. `--accuracy-control
D` adds a row compiled with accuracy-control (the first of `--methods`), judged on
validation lines (seed 3) within D of fp32 by a per-line metric (`--ac-metric`): the
share of the line's CTC frames whose class agrees with fp32's (frames, the finest),
1 - the line's character error rate (chars) or 1 for an exactly read line (lines); its
note gives the layers kept float and their fp32 weight bytes. ms/line is the scoring
run's wall time."""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import cpu_description, markdown_table  # noqa: E402
from _ort_ptq import predictor, preprocess, quantize_u8s8, session  # noqa: E402

from qcompiler.testing.ctc_recognizer import (HEIGHT, batches, dictionary, edit_distance, rec_model_path,  # noqa: E402
                                              recognize, score)
from qcompiler.testing.text_lines import text_lines  # noqa: E402


def squeezed(images, width: int):
    """Every line resized to 48 x `width` regardless of its aspect ratio (a fixed-shape model)."""
    import cv2

    return [cv2.resize(im, (width, 48)) for im in images]


def calibration_batches(images, batch: int) -> list:
    return [b for b, _ in batches(images, batch)]


def at_opset_13(model: Path, out: Path) -> Path:
    """The rec model is opset 12; quantize_static writes per-channel DequantizeLinear
    (an opset-13 attribute) without upgrading it, which onnxruntime then refuses."""
    import onnx
    from onnx import version_converter

    onnx.save(version_converter.convert_version(onnx.load(str(model)), 13), str(out))
    return out


def ort_rows(model: Path, calib: list, evaluate, methods, work: Path) -> list:
    prepared = preprocess(at_opset_13(model, work / "opset13.onnx"), work / "prepared.onnx", symbolic_shapes=False)
    rows = []
    for fmt in ("QDQ", "QOperator"):
        for method in methods:
            start = time.perf_counter()
            out = quantize_u8s8(prepared, work / f"ort_{fmt}_{method}.onnx", fmt, method, calib)
            seconds = time.perf_counter() - start
            rows.append((f"onnxruntime quantize_static {fmt} U8S8 per-channel {method}", seconds,
                         evaluate(predictor(session(out, 1)))))
    return rows


def qcompiler_rows(model: Path, calib: list, evaluate, methods, target: str, runner: str, work: Path,
                   validation=None, max_drop: float = 0.01, clip_search: str = "", validation_name: str = "") -> list:
    """One row per calibration method; with `validation`, one accuracy-control row (the
    first method) instead."""
    import qcompiler

    rows = []
    for method in methods:
        from qcompiler.pipelines import default_pipeline, insert_after, replace

        pipeline = replace(default_pipeline(target), "calibrate", f"calibrate{{method={method}}}")
        if clip_search:
            pipeline = insert_after(pipeline, "calibrate", clip_search)
        name = f"qcompiler {target} calibrate{{method={method}}}" + (f",{clip_search}" if clip_search else "") + (
            f" accuracy-control{{max_drop={max_drop}}}" if validation else "")
        if validation:
            name += f" on {validation_name}"
        start = time.perf_counter()
        try:
            cm = qcompiler.compile(str(model), target=target, example_inputs=calib[0][:1], calibration=calib,
                                   pipeline=pipeline, progress=False, validation=validation, max_drop=max_drop)
        except Exception as e:  # a method that fails is a row of the table, not the end of the run
            rows.append((name, time.perf_counter() - start, {"error": f"{type(e).__name__}: {str(e)[:120]}"}))
            continue
        seconds = time.perf_counter() - start
        if runner == "onnx":
            path = work / f"qc_{method}.onnx"
            cm.export_onnx(path, form="qdq")
            run = predictor(session(path, 1))
            print(f"# {name}: {float_weight_layers(path)} Conv/MatMul/Gemm with float weights in the QDQ export")
        else:
            run = cm
        rows.append((f"{name} ({runner})", seconds, {**evaluate(run), "note": kept_float_note(cm.graph)}))
        for d in cm.diagnostics:
            if d.pass_name == "accuracy-control":
                print(f"# accuracy-control {d.severity}: {d.message}")
        if validation:
            break
    return rows


def frame_classes(run, images) -> list:
    """Per line, the CTC class of each of its frames (padding frames left out), batched as
    rapidocr batches."""
    classes = [None] * len(images)
    for batch, indices in batches(images):
        best = np.asarray(run(batch)).argmax(-1)
        for row, i in zip(best, indices):
            width = min(batch.shape[3], int(np.ceil(HEIGHT * images[i].shape[1] / images[i].shape[0])))
            classes[i] = row[:int(np.ceil(len(row) * width / batch.shape[3]))]
    return classes


def per_line_metric(kind: str, images, truth, chars, fp32_run):
    """(data, metric) for accuracy-control: metric(model, data) -> one score per line."""
    if kind == "frames":
        reference = frame_classes(fp32_run, images)
        return (images, reference), lambda run, data: np.array(
            [float((got == want).mean()) for got, want in zip(frame_classes(run, data[0]), data[1])])
    if kind == "chars":
        return (images, truth), lambda run, data: np.array(
            [1.0 - edit_distance(p, t) / max(1, len(t)) for p, t in zip(recognize(run, data[0], chars), data[1])])
    return (images, truth), lambda run, data: np.array(
        [float(p == t) for p, t in zip(recognize(run, data[0], chars), data[1])])


def kept_float_note(graph) -> str:
    """How many layers accuracy-control kept float (`q.keep_float = true`; other passes
    write their own name) and their fp32 weight bytes."""
    kept = [n for n in graph.nodes if n.attrs.get("q.keep_float") is True]
    if not kept:
        return ""
    weights = sum(int(np.prod(v.type.shape)) * 4 for n in kept for v in n.inputs[1:]
                  if v is not None and v.producer is not None and v.producer.op == "const")
    return f"{len(kept)} layers kept float ({weights / 1024:.1f} KiB fp32 weights): " + ", ".join(
        n.outputs[0].name for n in kept)


def float_weight_layers(path: Path) -> int:
    """Conv / MatMul / Gemm nodes of an exported QDQ model whose weight is not dequantized."""
    import onnx

    nodes = onnx.load(str(path)).graph.node
    dequantized = {out for n in nodes if n.op_type == "DequantizeLinear" for out in n.output}
    return sum(n.op_type in ("Conv", "MatMul", "Gemm") and n.input[1] not in dequantized for n in nodes)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=200)
    ap.add_argument("--calib-lines", type=int, default=64)
    ap.add_argument("--calib-batch", type=int, default=16)
    ap.add_argument("--width", default="dynamic")
    ap.add_argument("--ort", default="MinMax", help="comma-separated onnxruntime calibration methods ('' for none)")
    ap.add_argument("--methods", default="minmax,percentile,kl,mse", help="qcompiler calibrate methods ('' for none)")
    ap.add_argument("--target", default="x86-vnni")
    ap.add_argument("--runner", choices=["onnx", "numba"], default="onnx")
    ap.add_argument("--accuracy-control", type=float, default=None, metavar="MAX_DROP",
                    help="add an accuracy-control row: the --ac-metric on validation lines within MAX_DROP")
    ap.add_argument("--validation-lines", type=int, default=32)
    ap.add_argument("--ac-metric", choices=["frames", "chars", "lines"], default="frames",
                    help="accuracy-control's per-line metric (see above)")
    ap.add_argument("--clip-search", default="", metavar="PASS",
                    help="a clip-search pass (e.g. 'clip-search{methods=[minmax,percentile]}') run after calibrate")
    args = ap.parse_args(argv)

    model = rec_model_path()
    chars = dictionary(model)
    test = text_lines(args.lines, seed=2, dictionary=chars)
    calib_images = [line.image for line in text_lines(args.calib_lines, seed=1, dictionary=chars)]
    images, truth = [line.image for line in test], [line.text for line in test]
    if args.width != "dynamic":
        images, calib_images = squeezed(images, int(args.width)), squeezed(calib_images, int(args.width))
    calib = calibration_batches(calib_images, args.calib_batch)

    def evaluate(run) -> dict:
        start = time.perf_counter()
        result = score(recognize(run, images, chars), truth)
        return {**result, "ms_per_line": 1000 * (time.perf_counter() - start) / len(images)}

    validation = None
    if args.accuracy_control is not None:
        held_out = text_lines(args.validation_lines, seed=3, dictionary=chars)
        val_images = [line.image for line in held_out]
        if args.width != "dynamic":
            val_images = squeezed(val_images, int(args.width))

        validation = per_line_metric(args.ac_metric, val_images, [line.text for line in held_out], chars,
                                     predictor(session(model, 1)))

    print(f"# CPU: {cpu_description()}")
    print(f"# {args.lines} test lines (seed 2), {args.calib_lines} calibration lines (seed 1) in batches of "
          f"{args.calib_batch}, width {args.width}")
    rows = [("fp32 (onnxruntime)", 0.0, evaluate(predictor(session(model, 1))))]
    with tempfile.TemporaryDirectory() as tmp:
        ort_methods = [m for m in args.ort.split(",") if m]
        if ort_methods:
            rows += ort_rows(model, calib, evaluate, ort_methods, Path(tmp))
        qc_methods = [m for m in args.methods.split(",") if m]
        if qc_methods:
            rows += qcompiler_rows(model, calib, evaluate, qc_methods, args.target, args.runner, Path(tmp),
                                   clip_search=args.clip_search)
        if qc_methods and validation:
            rows += qcompiler_rows(model, calib, evaluate, qc_methods, args.target, args.runner, Path(tmp),
                                   validation, args.accuracy_control,
                                   validation_name=f"{args.validation_lines} lines' {args.ac_metric}")
    table = [(name, f"{s:.1f}", *(("-", "-", "-", r["error"]) if "error" in r else
                                  (f"{100 * r['line_acc']:.1f}%", f"{100 * r['cer']:.2f}%",
                                   f"{r['ms_per_line']:.1f}", r.get("note", ""))))
             for name, s, r in rows]
    print(markdown_table(["configuration", "quantize s", "line accuracy", "CER", "ms/line", "note"], table,
                         "lrrrrl"))


if __name__ == "__main__":
    main()
