"""One compiled PP-OCRv4 recognizer for every line width: compiled once on 48x320 text
lines, run at other widths by the Numba kernels and by ONNX Runtime on the exported
integer and QDQ forms, beside the fp32 source model in ONNX Runtime.

    python bench/dynamic_width.py [--widths 320,326,800,1600] [--lines 40] [--repeats 5] [--write]

Latency: one rendered line right-padded to each width, median of interleaved rounds, one
thread. Accuracy: `--lines` rendered lines (qcompiler.testing.text_lines) read as rapidocr
reads them, in batches of 8 padded to their widest line (widths 320 to about 900), as
exact-line accuracy and character error rate. Before dynamic dims survived compilation
the compiled model and its exports refused any width but the calibration's.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import cpu_description, interleaved_median_ms, markdown_table, write_section  # noqa: E402

import qcompiler  # noqa: E402
from qcompiler.backends.onnx.export import to_onnx  # noqa: E402
from qcompiler.testing.ctc_recognizer import batches, dictionary, preprocess, rec_model_path, recognize, score  # noqa: E402,E501
from qcompiler.testing.text_lines import text_lines  # noqa: E402


def at_width(image: np.ndarray, width: int) -> np.ndarray:
    """A rendered line preprocessed as rapidocr does, right-padded (or cut) to `width`."""
    line = preprocess([image])[:, :, :, :width]
    return np.pad(line, [(0, 0), (0, 0), (0, 0), (0, width - line.shape[3])])


def session(model):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    data = model.SerializeToString() if hasattr(model, "SerializeToString") else str(model)
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", default="320,326,800,1600")
    parser.add_argument("--lines", type=int, default=40)
    parser.add_argument("--calib-lines", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--write", action="store_true", help="replace this benchmark's section of bench/RESULTS.md")
    args = parser.parse_args()
    widths = [int(w) for w in args.widths.split(",")]

    characters = dictionary(rec_model_path())
    calibration = np.concatenate([at_width(line.image, 320) for line in text_lines(args.calib_lines, 1, characters)])
    cm = qcompiler.compile(str(rec_model_path()), target="x86-vnni", calibration=calibration, progress=False)
    fp32 = session(rec_model_path())
    integer, qdq = session(to_onnx(cm.graph, "integer")), session(to_onnx(cm.fake_quant_graph, "qdq"))
    runners = {"Numba": cm, "ORT integer": lambda x: integer.run(None, {"x": x})[0],
               "ORT QDQ": lambda x: qdq.run(None, {"x": x})[0], "ORT fp32": lambda x: fp32.run(None, {"x": x})[0]}

    probe = text_lines(1, 3, characters)[0].image
    rows = []
    for width in widths:
        x = at_width(probe, width)
        ms = interleaved_median_ms({k: (lambda f=f: f(x)) for k, f in runners.items()}, repeats=args.repeats,
                                   warmup=1)
        rows.append([width, *(f"{ms[k]:.1f}" for k in runners)])
    latency = markdown_table(["width", *(f"{k} ms" for k in runners)], rows, "rrrrr")

    lines = text_lines(args.lines, 2, characters)
    truth = [line.text for line in lines]
    widths_read = sorted({b.shape[3] for b, _ in batches([line.image for line in lines])})
    accuracy = []
    for name, run in runners.items():
        s = score(recognize(run, [line.image for line in lines], characters), truth)
        accuracy.append([name, f"{s['line_acc']:.1%}", f"{s['cer']:.2%}"])
    table = markdown_table(["runner", "line accuracy", "CER"], accuracy, "lrr")
    command = "python bench/dynamic_width.py " + " ".join(sys.argv[1:])
    body = (f"`{command.strip()}` — {cpu_description()}; x86-vnni target, calibrated on "
            f"{args.calib_lines} rendered lines padded to 48×320, 1 thread.\n\n{latency}\n\n"
            f"{args.lines} rendered lines in batches of 8 at widths {widths_read[0]}–{widths_read[-1]}:\n\n{table}\n")
    print(body)
    if args.write:
        write_section("Dynamic width (PP-OCRv4 recognizer compiled once)", body)


if __name__ == "__main__":
    main()
