"""Static W8A8 on a 6-layer BERT with outlier channels (issue 11, Goal): pooled-embedding
cosine to fp32, latency and size of the exported ONNX in onnxruntime, next to
onnxruntime's quantize_dynamic (per-channel) of the same model.

    python bench/bert_w8a8.py [--test 128] [--batch 8] [--repeats 100] [--threads 2]
                              [--profile-runs 20] [--numba-test 32]

The model is transformers' BertModel from a config (hidden 384, 6 layers, 12 heads,
intermediate 1536, vocab 30522, seeded random weights) with masked mean pooling, every
LayerNorm's gamma multiplied by 60 at channels 3 and 17
(transformer_models.inject_outlier_channels). Calibration: 32 padded sequences of 64
tokens; test: other seeded padded batches of 64 tokens. Both quantizers start from the
same file, torch's legacy ONNX export (opset 17): qcompiler compiles it for x86-vnni with
the default pipeline (the transformer recipe: float residual stream and LayerNorm,
attention scale folded into the query/key projections, SmoothQuant, per-channel int8
weights, static per-tensor u8 activations, embedding rows int8 but the vocabulary table's
at the fewest bits keeping 35 dB, packed in the file), and once more with
transformer-recipe{embedding_sqnr=none} (every table 8 bits: what the narrowing costs),
and exports both (qoperator form); onnxruntime's quantize_dynamic quantizes it per channel.

Latency (a shared machine: other jobs preempt ours at random): the quantized models take
turns, one call each per round on the same test batch, `--repeats` rounds; the table gives
each one's median wall and CPU time and the median over rounds of the ratio to
quantize_dynamic's call in the same round. fp32 is timed alone, 5 calls. Where the time
goes: onnxruntime's profiler, 1 thread, `--profile-runs` runs; each node's least kernel
time over the runs (the run no other job interrupted), summed by op type.
"""
from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import cpu_description, interleaved_samples, markdown_table  # noqa: E402

SIZES = dict(hidden=384, layers=6, heads=12, intermediate=1536, vocab_size=30522, max_positions=512)
SEQ, CALIBRATION = 64, 32
PEER = "dynamic"
LABELS = {"fp32": "onnxruntime fp32",
          "dynamic": "onnxruntime quantize_dynamic (per-channel s8, dynamic u8 acts)",
          "w8": "qcompiler static W8A8 (default pipeline), exported qoperator",
          "w8_tables": "qcompiler static W8A8, transformer-recipe{embedding_sqnr=none}, exported qoperator"}


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, 1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def export_fp32(model, path: Path) -> None:
    from qcompiler.testing import transformer_models as tm

    ids, mask = tm.padded_tokens(2, 16, vocab_size=SIZES["vocab_size"])
    axes = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}, "pooled": {0: "batch"}}
    torch.onnx.export(model, (ids, mask), str(path), dynamo=False, opset_version=17, dynamic_axes=axes,
                      input_names=["input_ids", "attention_mask"], output_names=["pooled"])


def session(path: Path, threads: int, profile: bool = False):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    if profile:
        options.enable_profiling = True
        options.profile_file_prefix = str(path.with_suffix(""))
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def kernel_ms(path: Path, feed: dict, runs: int) -> dict:
    """op type -> ms per run: each node's least kernel time over `runs` runs (1 thread),
    summed by op type. The least time is the one no other job on the machine interrupted."""
    sess = session(path, 1, profile=True)
    for _ in range(runs + 1):  # the first run allocates
        sess.run(None, feed)
    times, op_of = collections.defaultdict(list), {}
    for event in json.loads(Path(sess.end_profiling()).read_text()):
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            times[event["name"]].append(event["dur"])
            op_of[event["name"]] = event["args"]["op_name"]
    totals = collections.Counter()
    for name, us in times.items():
        totals[op_of[name]] += min(us[1:]) / 1e3
    return dict(totals.most_common())


def compile_ours(fp32: Path, calibration, pipeline) -> tuple:
    import qcompiler

    start = time.perf_counter()
    cm = qcompiler.compile(str(fp32), target="x86-vnni", calibration=calibration, pipeline=pipeline, progress=False)
    return cm, time.perf_counter() - start


def latency_rows(sessions: dict, feed: dict, repeats: int) -> dict:
    """name -> (median wall ms, median CPU ms, median per-round ratio to the peer)."""
    timed = {k: (lambda s=s: s.run(None, feed)) for k, s in sessions.items() if k != "fp32"}
    samples = interleaved_samples(timed, repeats=repeats, warmup=5)
    out = {}
    for k, pairs in samples.items():
        ratios = [w / p for (w, _), (p, _) in zip(pairs, samples[PEER])]
        out[k] = (statistics.median(w for w, _ in pairs) * 1e3, statistics.median(c for _, c in pairs) * 1e3,
                  statistics.median(ratios))
    calls = []
    for _ in range(5):
        start = time.perf_counter()
        sessions["fp32"].run(None, feed)
        calls.append(time.perf_counter() - start)
    out["fp32"] = (statistics.median(calls) * 1e3, float("nan"), float("nan"))
    return out


def kernel_table(profiles: dict, top: int = 12) -> str:
    ops = collections.Counter()
    for p in profiles.values():
        ops.update(p)
    names = [op for op, _ in ops.most_common(top)]
    rows = [[op] + [f"{p.get(op, 0):.2f}" for p in profiles.values()] for op in names]
    rows.append(["**all ops**"] + [f"**{sum(p.values()):.2f}**" for p in profiles.values()])
    return markdown_table(["op type (kernel ms per run)"] + list(profiles), rows, align="l" + "r" * len(profiles))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test", type=int, default=128, help="test sequences")
    parser.add_argument("--batch", type=int, default=8, help="batch size (latency is per batch)")
    parser.add_argument("--repeats", type=int, default=100, help="timed rounds (one call of each model per round)")
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime intra-op threads")
    parser.add_argument("--profile-runs", type=int, default=20, help="profiled runs per model")
    parser.add_argument("--numba-test", type=int, default=32, help="test sequences also run in the Numba executor")
    args = parser.parse_args()
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from qcompiler import pipelines
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
    default = pipelines.default_pipeline("x86-vnni")
    builds = {"w8": default,
              "w8_tables": pipelines.replace(default, "transformer-recipe", "transformer-recipe{embedding_sqnr=none}")}
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        paths = {k: folder / f"{k}.onnx" for k in ("fp32", "dynamic", *builds)}
        export_fp32(model, paths["fp32"])
        quantize_dynamic(str(paths["fp32"]), str(paths["dynamic"]), per_channel=True, weight_type=QuantType.QInt8)
        compile_s, numba = {}, {}
        for k, pipeline in builds.items():
            cm, compile_s[k] = compile_ours(paths["fp32"], calibration, pipeline)
            cm.export_onnx(paths[k], form="qoperator")
            numba[k] = np.concatenate([cm(f["input_ids"], f["attention_mask"])
                                       for f in feeds[:max(1, args.numba_test // args.batch)]])
            del cm
        sessions = {k: session(p, args.threads) for k, p in paths.items()}
        outputs = {k: np.concatenate([s.run(None, f)[0] for f in feeds]) for k, s in sessions.items()}
        latency = latency_rows(sessions, feeds[0], args.repeats)
        profiles = {k: kernel_ms(paths[k], feeds[0], args.profile_runs) for k in (PEER, *builds)}
        sizes = {k: p.stat().st_size / 2**20 for k, p in paths.items()}
    rows = []
    for k in ("fp32", PEER, *builds):
        cos = cosines(outputs[k], expected)
        wall, cpu, ratio = latency[k]
        rows.append([LABELS[k], f"{cos.mean():.6f}", f"{cos.min():.5f}",
                     f"{wall:.1f}", "-" if np.isnan(cpu) else f"{cpu:.1f}", "-" if np.isnan(ratio) else f"{ratio:.3f}",
                     f"{sizes[k]:.2f}", f"{100 * sizes[k] / sizes['fp32']:.2f}"])
    for k in builds:
        cos = cosines(numba[k], expected[:len(numba[k])])
        rows.append([f"{LABELS[k].split(', exported')[0]}, Numba executor "
                     f"(first {len(numba[k])} test sequences)", f"{cos.mean():.6f}", f"{cos.min():.5f}",
                     "-", "-", "-", "-", "-"])
    print(f"BertModel hidden 384, 6 layers, 12 heads, vocab 30522, outlier channels x60; calibration {CALIBRATION} x "
          f"{SEQ} tokens, test {len(expected)} x {SEQ} (padded), batch {args.batch}, {args.threads} threads, "
          f"{args.repeats} interleaved rounds; qcompiler compile "
          + ", ".join(f"{compile_s[k]:.1f} s" for k in builds))
    print(f"CPU: {cpu_description()}\n")
    print(markdown_table(["model", "pooled cos mean", "pooled cos min", f"ms / batch of {args.batch} (median wall)",
                          "CPU ms (median)", f"x {PEER} (median per round)", "MiB", "% of fp32"], rows,
                         align="lrrrrrrr"))
    print(f"\nonnxruntime profiler, 1 thread, batch {args.batch}, least kernel time per node over "
          f"{args.profile_runs} runs, summed by op type:\n")
    print(kernel_table(profiles))


if __name__ == "__main__":
    main()
