"""Group-wise weights against per-channel ones on the PP-OCR direction classifier
(rapidocr's ch_ppocr_mobile_v2.0_cls, armv8 pipeline, width fixed at 192): time of the
Numba backend and of the exact ONNX integer form in ONNX Runtime, next to the float
model in ONNX Runtime, and how far the class probabilities move from the float model's.

    python bench/group_wise.py [--repeats 20] [--batch 8] [--no-write]

Everything runs at 1 thread (Numba and ONNX Runtime); compilation, JIT and session
creation happen before timing. The last column checks the integer ONNX model's
probabilities against Numba's (equal up to float rounding of the final dequantize and
softmax). Prints a markdown table and, unless --no-write, puts it in bench/RESULTS.md.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")

import numba  # noqa: E402
import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_description, interleaved_median_ms, markdown_table, write_section  # noqa: E402

import qcompiler  # noqa: E402
from qcompiler.backends.numba import NumbaExecutor  # noqa: E402
from qcompiler.backends.onnx import to_onnx  # noqa: E402

HEADING = "Group-wise weights (PP-OCR classifier, armv8)"
PIPELINE = ("fold-constants,canonicalize,fold-bn,fuse-activations,dce,calibrate{{method=mse}},"
            "quantize{{granularity={}}},lower")
GRANULARITIES = ("channel", "group:8", "group:16")


def classifier(width: int):
    import rapidocr_onnxruntime

    path = Path(rapidocr_onnxruntime.__file__).parent / "models" / "ch_ppocr_mobile_v2.0_cls_infer.onnx"
    model = onnx.load(str(path))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    for dim, size in zip(dims[1:], (3, 48, width)):
        dim.dim_value = size
    dims[0].dim_param = "N"
    return model


def session(model) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    numba.set_num_threads(1)
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (args.batch, 3, 48, 192)).astype(np.float32)
    calibration = rng.uniform(-1, 1, (8, 3, 48, 192)).astype(np.float32)
    model = classifier(192)
    float_session = session(model)
    reference = float_session.run(None, {"x": x})[0]
    rows = []
    for granularity in GRANULARITIES:
        compiled = qcompiler.compile(model, "armv8", example_inputs=calibration[:1], calibration=calibration,
                                     pipeline=PIPELINE.format(granularity), progress=False)
        grouped = sum(1 for n in compiled.graph.nodes if n.op.startswith("q") and len(n.inputs) > 1
                      and getattr(n.inputs[1].type, "group", None))
        executor = NumbaExecutor(compiled.graph)
        integer = session(to_onnx(compiled.graph, "integer"))
        ours = executor([x])[0]
        exported = integer.run(None, {"x": x})[0]
        times = interleaved_median_ms({"numba": lambda: executor([x]),
                                       "integer": lambda: integer.run(None, {"x": x}),
                                       "float": lambda: float_session.run(None, {"x": x})}, args.repeats)
        rows.append([granularity, grouped, f"{times['numba']:.1f}", f"{times['integer']:.1f}",
                     f"{times['float']:.1f}", f"{np.abs(ours - reference).mean():.4f}",
                     "equal" if np.allclose(exported, ours, rtol=0, atol=1e-6) else "DIFFERENT"])
    table = markdown_table(["weights", "group-wise layers", "Numba ms", "ORT integer form ms", "ORT float ms",
                            "mean |Δp| vs float", "integer ONNX vs Numba"], rows, "llrrrrl")
    body = (f"`python bench/group_wise.py --repeats {args.repeats} --batch {args.batch}` — {cpu_description()}; "
            f"batch {args.batch} of 3×48×192 uniform inputs, 8 calibration samples, 1 thread.\n\n{table}\n")
    print(body)
    if not args.no_write:
        write_section(HEADING, body)


if __name__ == "__main__":
    main()
