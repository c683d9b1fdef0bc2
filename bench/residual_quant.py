"""Multi-tensor residual weights (quantize-residual, docs/residual.md) against one int4
tensor and against int8, W4A8 / W8A8, on the digits residual CNN and the PP-OCR direction
classifier.

    python bench/residual_quant.py [--data PATH] [--epochs 10] [--thresholds 20] [--top 2 4]
                                   [--cls-samples 16] [--write]

1. Digits residual CNN (bench/_mnist_resnet.py, 10 epochs, seed 0): top-1 % on the 1,000
   mnist5k test digits of the lowered integer graph run by the Numba backend, logits SQNR
   against fp32, weight bytes (terms x bits per element; scales left out as everywhere in
   qcompiler.analysis.size) and BOPs (MACs x weight bits x input bits per layer; a residual
   layer's MACs are terms x its products, since it reads its input terms times).
   calibrate{method=mse} on 256 training images, weights per channel, activations u8. Layers
   are chosen by their int4 weight SQNR, or by sensitivity{metric=sqnr} (each layer's
   output noise with its weights alone at 4 bits) with top=N.
2. PP-OCR direction classifier (rapidocr's ch_ppocr_mobile_v2.0_cls, width 192): output
   SQNR and class agreement against the float model on 128 synthetic text lines, fake-quant
   graph in the torch executor.

The peers of a residual row are the single-int4 row (same activation and term width) and
the int8 row (the same 8 bits per weight element in one tensor). Each residual row also
checks the integer ONNX export in onnxruntime against Numba on 64 test digits.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_description, markdown_table, write_section  # noqa: E402
from _mnist_resnet import load_mnist5k, train_resnet  # noqa: E402
from qcompiler.testing.text_lines import stroke_lines  # noqa: E402

from qcompiler.analysis.macs import macs  # noqa: E402
from qcompiler.analysis.size import element_bits  # noqa: E402
from qcompiler.backends.numba import NumbaExecutor  # noqa: E402
from qcompiler.backends.onnx import to_onnx  # noqa: E402
from qcompiler.ir.clone import clone  # noqa: E402
from qcompiler.model.loading import load_model  # noqa: E402
from qcompiler.numerics.sqnr import sqnr_db  # noqa: E402
from qcompiler.passmanager import PassContext, PassManager  # noqa: E402
from qcompiler.runtime.torch import run_torch  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "mnist5k.npz"
HEADING = "Multi-tensor residual quantization (2 x int4 where one int4 is poor)"
PREPARE = "fold-constants,canonicalize,fold-bn,fuse-activations,dce,calibrate{method=mse}"
LAYERS = ("conv1d", "conv2d", "linear")


def settings(thresholds, tops=()) -> list:
    rows = [("W8A8 (int8 weights)", "quantize{weights=i8}"), ("W4A8 (one int4 tensor)", "quantize{weights=i4}")]
    rows += [(f"W4A8, 2 x int4 where weight SQNR < {t:g} dB",
              f"quantize{{weights=i4}},quantize-residual{{terms=2, bits=4, threshold={t:g}}}") for t in thresholds]
    rows += [(f"W4A8, 2 x int4 on the {n} layers of highest q.sens",
              f"sensitivity{{metric=sqnr, bits=[4], samples=256}},quantize{{weights=i4}},"
              f"quantize-residual{{terms=2, bits=4, select=sensitivity, top={n}}}") for n in tops]
    rows.append(("W4A8, 2 x int4 in every layer",
                 "quantize{weights=i4},quantize-residual{terms=2, bits=4, threshold=1000}"))
    return rows


def prepared(imported, calibration):
    graph, ctx = clone(imported), PassContext(calibration=calibration)
    PassManager(PREPARE).run(graph, ctx)
    return graph, ctx


def quantized(prepared_graph, pipeline: str):
    graph, ctx = clone(prepared_graph[0]), prepared_graph[1]
    PassManager(pipeline).run(graph, ctx)
    return graph


def costs(graph) -> tuple:
    """(weight bytes, BOPs per sample, residual layers) of the conv / linear layers."""
    size = bops = residual = 0
    for node in graph.nodes:
        if node.op not in LAYERS:
            continue
        w, x = node.inputs[1].type, node.inputs[0].type
        size += element_bits(w) * w.numel() / 8
        bops += macs(node) * element_bits(w) * element_bits(x)
        residual += bool(node.attrs.get("q.residual_terms"))
    return size, bops, residual


def run_batches(run, x: np.ndarray, batch: int = 250) -> np.ndarray:
    return np.concatenate([run(x[i:i + batch]) for i in range(0, len(x), batch)])


def digits_table(args) -> str:
    data = load_mnist5k(args.data)
    model = train_resnet(data["x_train"], data["y_train"], epochs=args.epochs)
    imported = load_model(model, torch.from_numpy(data["x_test"][:1]), dynamic_batch=True)
    x, y = data["x_test"], data["y_test"]
    reference = run_batches(lambda b: run_torch(imported, [b])[0], x)
    size, bops, _ = costs(imported)
    top1 = f"{(reference.argmax(1) == y).mean() * 100:.1f}"
    rows = [["fp32", top1, "—", 0, f"{size:,.0f}", f"{bops / 1e6:.0f}", "—"]]
    base = prepared(imported, data["x_train"][:256])
    for label, pipeline in settings(args.thresholds, args.top):
        graph = quantized(base, pipeline)
        size, bops, residual = costs(graph)
        PassManager("lower").run(graph, base[1])
        numba = NumbaExecutor(graph)
        logits = run_batches(lambda b: numba([b])[0], x)
        check = "—"
        if residual:
            session = ort.InferenceSession(to_onnx(graph, "integer").SerializeToString(),
                                           providers=["CPUExecutionProvider"])
            exported = session.run(None, {session.get_inputs()[0].name: x[:64]})[0]
            difference = np.abs(exported - logits[:64]).max()
            check = "equal" if np.array_equal(exported, logits[:64]) else f"max diff {difference:.2g}"
        rows.append([label, f"{(logits.argmax(1) == y).mean() * 100:.1f}", f"{sqnr_db(reference, logits):.1f}",
                     residual, f"{size:,.0f}", f"{bops / 1e6:.0f}", check])
        print(rows[-1], flush=True)
    return markdown_table(["weights", "top-1 %", "logits SQNR dB", "residual layers", "weight bytes", "MBOPs / sample",
                           "integer ONNX (ORT) vs Numba"], rows, "lrrrrrl")


def classifier_table(args) -> str:
    import rapidocr_onnxruntime

    path = Path(rapidocr_onnxruntime.__file__).parent / "models" / "ch_ppocr_mobile_v2.0_cls_infer.onnx"
    imported = load_model(str(path))
    test = stroke_lines(128, 1)
    reference = run_batches(lambda b: run_torch(imported, [b])[0], test, 64)
    base = prepared(imported, stroke_lines(args.cls_samples, 0))
    rows = []
    for label, pipeline in settings(args.thresholds):
        graph = quantized(base, pipeline)
        size, bops, residual = costs(graph)
        out = run_batches(lambda b: run_torch(graph, [b])[0], test, 64)
        agreement = (out.argmax(1) == reference.argmax(1)).mean() * 100
        rows.append([label, f"{sqnr_db(reference, out):.1f}", f"{agreement:.1f}",
                     residual, f"{size:,.0f}", f"{bops / 1e6:.0f}"])
        print(rows[-1], flush=True)
    return markdown_table(["weights", "output SQNR dB", "class agreement %", "residual layers", "weight bytes",
                           "MBOPs / sample"], rows, "lrrrrr")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--thresholds", type=float, nargs="+", default=[20.0])
    parser.add_argument("--top", type=int, nargs="*", default=[2, 4],
                        help="digits rows with residual weights on the N layers of highest sensitivity")
    parser.add_argument("--cls-samples", type=int, default=16)
    parser.add_argument("--write", action="store_true", help="put the tables in bench/RESULTS.md")
    args = parser.parse_args()
    if not args.data.is_file():
        print(f"residual_quant: skipped, no data at {args.data}")
        return 0
    torch.set_num_threads(1)
    start = time.perf_counter()
    digits = digits_table(args)
    print(digits, flush=True)
    cls = classifier_table(args)
    thresholds = " ".join(f"{t:g}" for t in args.thresholds)
    tops = " ".join(str(n) for n in args.top)
    command = (f"python bench/residual_quant.py --epochs {args.epochs} --thresholds {thresholds} --top {tops} "
               f"--cls-samples {args.cls_samples}" + (" --write" if args.write else ""))
    seconds = time.perf_counter() - start
    body = f"""Command (from the repository root): `{command}` ({cpu_description()}; {seconds:.0f} s in all)

Digits residual CNN (bench/_mnist_resnet.py, {args.epochs} epochs, seed 0): top-1 on the 1,000 mnist5k test digits of
the lowered integer graph in the Numba backend; calibrate{{method=mse}} on 256 training images, weights per channel,
activations u8. Weight bytes count every conv/linear weight element at its storage width (terms x 4 bits for a
residual layer), scales left out; BOPs = MACs x weight bits x input bits, a residual layer counting terms x its MACs.

{digits}

PP-OCR direction classifier (ch_ppocr_mobile_v2.0_cls, 128 synthetic text lines, {args.cls_samples} calibration lines),
fake-quant graph in the torch executor, against the float model:

{cls}
"""
    print(body)
    if args.write:
        write_section(HEADING, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
