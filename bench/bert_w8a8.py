"""Static W8A8 on a 6-layer BERT with outlier channels (issue 11, Goal): pooled-embedding
cosine to fp32, latency and size of the exported ONNX in onnxruntime, next to
onnxruntime's quantize_dynamic (per-channel) of the same model.

    python bench/bert_w8a8.py [--test 32] [--batch 8] [--repeats 40] [--threads 2]

The model is transformers' BertModel from a config (hidden 384, 6 layers, 12 heads,
intermediate 1536, vocab 30522, seeded random weights) with masked mean pooling, every
LayerNorm's gamma multiplied by 60 at channels 3 and 17
(transformer_models.inject_outlier_channels). Calibration: 32 padded sequences of 64
tokens; test: other seeded padded batches of 64 tokens. Both quantizers start from the
same file, torch's legacy ONNX export (opset 17): qcompiler compiles it for x86-vnni with
the default pipeline (the transformer recipe: float residual
stream and LayerNorm, SmoothQuant, per-channel int8 weights, static per-tensor u8
activations, int8 embedding rows) and exports it (qoperator form), onnxruntime's
quantize_dynamic quantizes it per channel.
Latency: every model in onnxruntime with `--threads` intra-op threads, interleaved
medians of `--repeats` calls on one test batch.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import cpu_description, interleaved_median_ms, markdown_table  # noqa: E402

SIZES = dict(hidden=384, layers=6, heads=12, intermediate=1536, vocab_size=30522, max_positions=512)
SEQ, CALIBRATION = 64, 32


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, 1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def export_fp32(model, path: Path) -> None:
    from qcompiler.testing import transformer_models as tm

    ids, mask = tm.padded_tokens(2, 16, vocab_size=SIZES["vocab_size"])
    axes = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}, "pooled": {0: "batch"}}
    torch.onnx.export(model, (ids, mask), str(path), dynamo=False, opset_version=17, dynamic_axes=axes,
                      input_names=["input_ids", "attention_mask"], output_names=["pooled"])


def session(path: Path, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test", type=int, default=32, help="test sequences")
    parser.add_argument("--batch", type=int, default=8, help="batch size (latency is per batch)")
    parser.add_argument("--repeats", type=int, default=40, help="timed calls per model")
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime intra-op threads")
    args = parser.parse_args()
    import qcompiler
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from qcompiler.testing import transformer_models as tm

    torch.set_num_threads(args.threads)
    model = tm.inject_outlier_channels(tm.bert(seed=0, **SIZES))
    ids, mask = tm.padded_tokens(CALIBRATION, SEQ, vocab_size=SIZES["vocab_size"], seed=1)
    calibration = [(ids[i:i + args.batch].numpy(), mask[i:i + args.batch].numpy())
                   for i in range(0, CALIBRATION, args.batch)]
    tests = [tm.padded_tokens(args.batch, SEQ, vocab_size=SIZES["vocab_size"], seed=100 + i)
             for i in range(args.test // args.batch)]
    feeds = [{"input_ids": i.numpy(), "attention_mask": m.numpy()} for i, m in tests]
    with torch.no_grad():
        expected = np.concatenate([model(i, m).numpy() for i, m in tests])
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        paths = {"fp32": folder / "fp32.onnx", "dynamic": folder / "dynamic.onnx", "ours": folder / "w8a8.onnx"}
        export_fp32(model, paths["fp32"])
        start = time.perf_counter()
        cm = qcompiler.compile(str(paths["fp32"]), target="x86-vnni", calibration=calibration, progress=False)
        compile_s = time.perf_counter() - start
        quantize_dynamic(str(paths["fp32"]), str(paths["dynamic"]), per_channel=True, weight_type=QuantType.QInt8)
        cm.export_onnx(paths["ours"], form="qoperator")
        sessions = {k: session(p, args.threads) for k, p in paths.items()}
        outputs = {k: np.concatenate([s.run(None, f)[0] for f in feeds]) for k, s in sessions.items()}
        numba = np.concatenate([cm(f["input_ids"], f["attention_mask"]) for f in feeds])
        latency = interleaved_median_ms({k: (lambda s=s: s.run(None, feeds[0])) for k, s in sessions.items()},
                                        repeats=args.repeats, warmup=3)
        sizes = {k: p.stat().st_size / 2**20 for k, p in paths.items()}
    labels = {"fp32": "onnxruntime fp32", "dynamic": "onnxruntime quantize_dynamic (per-channel s8, dynamic u8 acts)",
              "ours": "qcompiler static W8A8 (default pipeline), exported qoperator"}
    rows = []
    for k in ("fp32", "dynamic", "ours"):
        cos = cosines(outputs[k], expected)
        rows.append([labels[k], f"{cos.mean():.5f}", f"{cos.min():.5f}", f"{latency[k]:.2f}",
                     f"{sizes[k]:.1f}", f"{100 * sizes[k] / sizes['fp32']:.1f}"])
    cos = cosines(numba, expected)
    rows.append(["qcompiler static W8A8, Numba executor", f"{cos.mean():.5f}", f"{cos.min():.5f}", "-", "-", "-"])
    print(f"BertModel hidden 384, 6 layers, 12 heads, vocab 30522, outlier channels x60; calibration {CALIBRATION} x "
          f"{SEQ} tokens, test {args.test} x {SEQ} (padded), batch {args.batch}, {args.threads} threads; "
          f"qcompiler compile {compile_s:.1f} s")
    print(f"CPU: {cpu_description()}")
    print(markdown_table(["model", "pooled cos mean", "pooled cos min", f"ms / batch of {args.batch} (median)",
                          "MiB", "% of fp32"], rows, align="lrrrrr"))


if __name__ == "__main__":
    main()
