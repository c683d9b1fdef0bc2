"""Kernel codebooks (KQ) against dense int8 and uniform int2, in one run.

    python bench/codebook_conv.py [--data PATH] [--epochs 10] [--repeats 30] [--no-write]

1. Speed: one 3×3 conv layer with a codebook weight (K codewords, 6-bit) run by the Numba
   codebook kernel (one plane per input channel and codeword, gathered by index), by the
   dense Numba int8 qconv2d on the same weights, and by ONNX Runtime's QLinearConv (u8 ×
   s8); all on 1 thread, requantized to u8. The codebook result must equal the dense one.
2. Accuracy (mnist5k, the 3-stage ResNet of bench/_mnist_resnet.py, BN folded): KQ on
   the 3×3 convolutions at several index widths, before and after codebook-finetune,
   against uniform int2 per channel on the same layers (PTQ, then QAT with the same
   distillation budget); the fine-tuned KQ model exported to ONNX (gather and int8
   forms) and run in ONNX Runtime.

Prints markdown and, unless --no-write, puts it under "Kernel codebook convolution" in
bench/RESULTS.md.
"""
from __future__ import annotations

import os

# Numba's OpenMP layer leaves torch's later parallel regions slow (bench/numba_kernels.py)
os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")

import argparse  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from datetime import date  # noqa: E402
from pathlib import Path  # noqa: E402

import numba  # noqa: E402
import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _codebook_accuracy as acc  # noqa: E402
from _codebook_kernels import layer_case  # noqa: E402
from _common import cpu_description, interleaved_samples, markdown_table, write_section  # noqa: E402
from _mnist_resnet import load_mnist5k, train_resnet  # noqa: E402

HEADING = "Kernel codebook convolution"
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist5k.npz"
LAYERS = [  # batch, cin, cout, size, codewords, stride
    (1, 64, 64, 56, 16, 1), (1, 64, 64, 56, 64, 1), (1, 128, 128, 28, 4, 1), (1, 128, 128, 28, 16, 1),
    (1, 256, 256, 14, 16, 1), (1, 128, 256, 28, 16, 2), (8, 32, 64, 28, 16, 1),
]


def timed(runs: dict, repeats: int, warmup: int = 3) -> dict:
    """name -> (median ms, min ms, median process CPU ms)."""
    return {name: (statistics.median(w for w, _ in t) * 1e3, min(w for w, _ in t) * 1e3,
                   statistics.median(c for _, c in t) * 1e3)
            for name, t in interleaved_samples(runs, repeats, warmup).items()}


def speed_table(repeats: int) -> str:
    rng = np.random.default_rng(0)
    rows = []
    for layer in LAYERS:
        name, runs, multiplies = layer_case(rng, *layer)
        results = {k: np.asarray(fn()) for k, fn in runs.items()}
        reference = results["numba dense i8"].astype(np.int64)
        for impl, (median, fastest, cpu) in timed(runs, repeats).items():
            diff = np.abs(results[impl] - reference)
            agree = "equal" if not diff.any() else f"{np.mean(diff == 0) * 100:.1f}% equal, max {diff.max()}"
            rows.append([name, impl, f"{multiplies[impl] / 1e6:.1f}", f"{median:.2f}", f"{fastest:.2f}", f"{cpu:.2f}",
                         agree])
    return markdown_table(["layer", "implementation", "M multiplies", "median ms", "min ms", "median CPU ms",
                           "vs dense Numba result"], rows, "llrrrrl")


def accuracy_report(data_path: Path, epochs: int) -> str:
    data = load_mnist5k(data_path)
    start = time.perf_counter()
    model = train_resnet(data["x_train"], data["y_train"], epochs=epochs)
    g = acc.float_graph(model, data["x_train"])
    fp32 = acc.accuracy(g, data["x_test"], data["y_test"])
    kq = acc.codebook_rows(g, data)
    int2 = acc.int2_rows(g, data)
    rows = [["fp32", "32", "32", f"{fp32 * 100:.1f}"]]
    rows += [[m, f"{b:.3f}", f"{h:.3f}", f"{a * 100:.1f}"] for m, b, h, a, _ in kq + [r + (None,) for r in int2]]
    best = max((r for r in kq if "fine-tune" in r[0] and r[1] <= 2.0), key=lambda r: r[3])
    exported = acc.onnx_check(best[4], data)
    minutes = (time.perf_counter() - start) / 60
    weights = sum(int(np.prod(w.type.shape)) for w in acc.conv_weights(g, (3, 3)))
    return (f"Accuracy: {len(data['x_test'])} mnist5k test images; the ResNet trained {epochs} epochs on the 4,000 "
            f"training images; KQ and int2 on its {weights:,} 3×3 conv weights (bits/weight over those; KQ counts "
            f"indices, 6-bit codewords and the f32 scale of every codebook; int2 counts 2 bits plus an f32 scale and "
            f"an 8-bit zero point per channel). Fine-tuning: codebook-finetune{{loss=kl}} ({acc.ROUNDS} rounds × "
            f"{acc.EPOCHS} epochs of KL distillation from the fp32 model at T=2, codewords trained, indices fixed "
            f"and re-assigned per round); int2 QAT: the same loss and {acc.ROUNDS * acc.EPOCHS} epochs on all its "
            f"conv weights. {minutes:.1f} minutes in all.\n\n"
            + markdown_table(["weights of the 3×3 convs", "bits/weight", "bits/weight, Huffman-coded indices",
                              "test accuracy %"], rows, "lrrr")
            + f"\n\nExported ({best[0]}), run in ONNX Runtime: gather form {exported['gather'][0] * 100:.1f}% "
              f"({exported['gather'][1]:,} bytes), int8 form {exported['int8'][0] * 100:.1f}% "
              f"({exported['int8'][1]:,} bytes).")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    numba.set_num_threads(1)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).parent).stdout.strip()
    speed = speed_table(args.repeats)
    parts = [f"Command (from the repository root): `python bench/codebook_conv.py --epochs {args.epochs} --repeats "
             f"{args.repeats}` ({date.today()}, bench at commit {commit}).",
             f"CPU: {cpu_description(('avx2', 'avx512_vnni'))}; numba {numba.__version__} "
             f"({numba.threading_layer()} threading layer), onnxruntime {ort.__version__}, torch {torch.__version__}; "
             "everything on 1 thread.",
             "Speed: median / min of interleaved runs after warm-up (JIT, session creation, weight packing "
             "excluded); CPU ms is process time. Multiplies: the codebook kernel's Cin·K·positions·9 against "
             "Cout·Cin·positions·9 (it also adds Cout·Cin planes per position in its gather).",
             speed]
    if args.data.is_file():
        parts.append(accuracy_report(args.data, args.epochs))
    else:
        parts.append(f"Accuracy: skipped, no data at {args.data}.")
    report = "\n\n".join(parts)
    print(report)
    if not args.no_write:
        write_section(HEADING, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
