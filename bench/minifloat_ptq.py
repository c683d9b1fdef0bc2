"""FP8 (and 6/4-bit minifloat) post-training quantization against int8 PTQ, side by side.

    python bench/minifloat_ptq.py [--data PATH] [--epochs 10] [--cls-lines 64] [--write]

1. The digits residual CNN (bench/_mnist_resnet.py, trained with a fixed seed on mnist5k):
   top-1 % on the 1,000 test digits and output (logit) SQNR against fp32, for int8 PTQ
   (calibrate{method=mse}, i8 weights per channel, u8 activations) and minifloat PTQ
   (calibrate{method=minmax}, then quantize{weights=F, acts=A} with max or MSE scales);
   the E4M3 model also exported as FLOAT8 QDQ ONNX and run in onnxruntime.
2. The PP-OCR direction classifier (rapidocr_onnxruntime): output SQNR and class
   agreement with fp32 on synthetic text lines, calibrated on other lines.
3. The transformers issue's test encoder (qcompiler.testing.zoo.transformer_encoder: two
   layers, d_model 32, seeded random weights): output SQNR on Gaussian sequences.
Accuracy on the fake-quant graph (torch executor). Weight KiB: stored bits of every
conv / linear weight (scales left out).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_description, markdown_table, write_section  # noqa: E402
from _mnist_resnet import load_mnist5k, train_resnet  # noqa: E402
from qcompiler.testing.text_lines import stroke_lines  # noqa: E402

from qcompiler.analysis.size import storage_bytes  # noqa: E402
from qcompiler.backends.onnx import export  # noqa: E402
from qcompiler.ir.clone import clone  # noqa: E402
from qcompiler.model.loading import load_model  # noqa: E402
from qcompiler.numerics.sqnr import sqnr_db  # noqa: E402
from qcompiler.passmanager import PassContext, PassManager  # noqa: E402
from qcompiler.runtime.torch import run_torch  # noqa: E402
from qcompiler.testing.zoo import transformer_encoder  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "mnist5k.npz"
HEADING = "Minifloat (FP8 E4M3 ...) PTQ vs int8 PTQ"
PREPARE = "fold-constants,canonicalize,fold-bn,fuse-activations,dce,calibrate{method=%s}"
SETTINGS = [  # label, calibration method, quantize
    ("int8 PTQ (i8 per channel, u8 acts, MSE ranges)", "mse", "quantize"),
    ("int8 PTQ (i8 per channel, u8 acts, min/max ranges)", "minmax", "quantize"),
    ("FP8 E4M3 PTQ (max scales)", "minmax", "quantize{weights=e4m3, acts=e4m3}"),
    ("FP8 E4M3 PTQ (MSE scales)", "minmax", "quantize{weights=e4m3, acts=e4m3, minifloat_scale=mse}"),
    ("FP8 E5M2 PTQ (max scales)", "minmax", "quantize{weights=e5m2, acts=e5m2}"),
    ("E2M3 weights, E4M3 acts (MSE scales)", "minmax", "quantize{weights=e2m3, acts=e4m3, minifloat_scale=mse}"),
    ("E2M1 weights, E4M3 acts (MSE scales)", "minmax", "quantize{weights=e2m1, acts=e4m3, minifloat_scale=mse}"),
]


def predict(graph, x: np.ndarray, batch: int = 250) -> np.ndarray:
    return np.concatenate([run_torch(graph, [x[i:i + batch]])[0] for i in range(0, len(x), batch)])


def weight_kib(graph) -> float:
    """Stored KiB of the weights conv / linear layers read (float or quantized)."""
    weights = {id(n.inputs[1]): n.inputs[1] for n in graph.nodes
               if n.op in ("conv2d", "linear", "gemm", "matmul") and n.inputs[1].producer is not None
               and n.inputs[1].producer.op == "const"}
    return sum(storage_bytes(w.type) for w in weights.values()) / 1024


def quantized(imported, calibration, method: str, quantize: str):
    graph = clone(imported)
    PassManager(PREPARE % method + "," + quantize).run(graph, PassContext(calibration=calibration))
    return graph


def onnxruntime_predict(graph, x: np.ndarray) -> np.ndarray:
    # unoptimized: onnxruntime's QDQ transformers assume integer Q/DQ (docs/minifloat.md)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    with tempfile.TemporaryDirectory() as tmp:
        export(graph, Path(tmp) / "m.onnx")
        session = ort.InferenceSession(str(Path(tmp) / "m.onnx"), options)
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def digits_table(args) -> str:
    data = load_mnist5k(args.data)
    model = train_resnet(data["x_train"], data["y_train"], epochs=args.epochs)
    imported = load_model(model, torch.from_numpy(data["x_test"][:1]), dynamic_batch=True)
    x, y, calibration = data["x_test"], data["y_test"], data["x_train"][:256]
    reference = predict(imported, x)
    rows = [["fp32", f"{(reference.argmax(1) == y).mean() * 100:.1f}", "", f"{weight_kib(imported):.1f}"]]
    for label, method, quantize in SETTINGS:
        graph = quantized(imported, calibration, method, quantize)
        out = predict(graph, x)
        rows.append([label, f"{(out.argmax(1) == y).mean() * 100:.1f}", f"{sqnr_db(reference, out):.1f}",
                     f"{weight_kib(graph):.1f}"])
        if quantize == "quantize{weights=e4m3, acts=e4m3}":
            out = onnxruntime_predict(graph, x)
            rows.append(["  same, FLOAT8 QDQ export in onnxruntime", f"{(out.argmax(1) == y).mean() * 100:.1f}",
                         f"{sqnr_db(reference, out):.1f}", f"{weight_kib(graph):.1f}"])
        print(rows[-1], flush=True)
    return markdown_table(["model", "top-1 %", "logit SQNR dB", "weight KiB"], rows, "lrrr")


def classifier_table(args) -> str:
    import rapidocr_onnxruntime

    path = Path(rapidocr_onnxruntime.__file__).parent / "models" / "ch_ppocr_mobile_v2.0_cls_infer.onnx"
    imported = load_model(str(path))
    test, calibration = stroke_lines(128, 1), stroke_lines(args.cls_lines, 0)
    reference = predict(imported, test, batch=64)
    rows = []
    for label, method, quantize in SETTINGS[:4]:
        out = predict(quantized(imported, calibration, method, quantize), test, batch=64)
        agreement = (out.argmax(1) == reference.argmax(1)).mean() * 100
        rows.append([label, f"{sqnr_db(reference, out):.1f}", f"{agreement:.1f}"])
        print(rows[-1], flush=True)
    return markdown_table(["model", "output SQNR dB", "class agreement %"], rows, "lrr")


def transformer_table() -> str:
    model, (example,) = transformer_encoder()
    imported = load_model(model, example, dynamic_batch=True)
    rng = np.random.default_rng(0)
    calibration, test = (rng.standard_normal((64, 5, 32)).astype(np.float32) for _ in range(2))
    reference = predict(imported, test)
    rows = []
    for label, method, quantize in SETTINGS[:5]:
        out = predict(quantized(imported, calibration, method, quantize), test)
        rows.append([label, f"{sqnr_db(reference, out):.1f}"])
        print(rows[-1], flush=True)
    return markdown_table(["model", "output SQNR dB"], rows, "lr")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--cls-lines", type=int, default=64, help="calibration text lines for the PP-OCR classifier")
    parser.add_argument("--write", action="store_true", help="put the tables in bench/RESULTS.md")
    args = parser.parse_args()
    if not args.data.is_file():
        print(f"minifloat_ptq: skipped, no data at {args.data}")
        return 0
    torch.set_num_threads(1)
    warnings.simplefilter("ignore", UserWarning)
    start = time.perf_counter()
    digits, cls, encoder = digits_table(args), classifier_table(args), transformer_table()
    command = f"python bench/minifloat_ptq.py --epochs {args.epochs} --cls-lines {args.cls_lines}" + \
        (" --write" if args.write else "")
    seconds = time.perf_counter() - start
    body = f"""Command (from the repository root): `{command}` ({cpu_description()}; {seconds:.0f} s in all)

Digits residual CNN (bench/_mnist_resnet.py, {args.epochs} epochs, seed 0), 1,000 mnist5k test digits,
calibrated on 256 training images; logit SQNR against the fp32 model. FP8 rows: every conv / linear
weight per output channel and the activations they read per tensor, other ops float (docs/minifloat.md).

{digits}

PP-OCR direction classifier (ch_ppocr_mobile_v2.0_cls), 128 synthetic text lines, calibrated on
{args.cls_lines} other lines; SQNR and agreement against the fp32 model.

{cls}

Transformer encoder of the transformers issue's tests (2 layers, d_model 32, 4 heads, seeded random
weights), 64 Gaussian sequences of 5 tokens, calibrated on 64 others; SQNR against fp32.

{encoder}
"""
    print(body)
    if args.write:
        write_section(HEADING, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
