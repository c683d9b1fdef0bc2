"""Per-token dynamic activations and I-BERT integer kernels on the 6-layer outlier BERT of
bench/bert_w8a8.py (issue 11, item 3): pooled-embedding cosine to fp32 of

- static W8A8 (the target's default pipeline: the transformer recipe, float softmax,
  GELU and LayerNorm),
- the same with `transformer-recipe{integer=[softmax, gelu, layer_norm]}` (int32 I-BERT
  kernels; Numba only: the ONNX export refuses them),
- `quantize{acts=dynamic}` (one run-time u8 scale per linear input, onnxruntime's
  quantize_dynamic arithmetic) and `quantize{acts=dynamic, act_granularity=token}`
  (one per token),

next to onnxruntime's own quantize_dynamic (per-channel) of the same ONNX file.

    python bench/bert_dynamic_integer.py [--clean-last-norm] [--test 32] [--batch 8] [--repeats 10]

`--clean-last-norm` leaves the outliers out of the final LayerNorm: there they dominate
the pooled embedding and hide what happens to the ordinary channels (bench/RESULTS.md,
"BERT W8A8"). Cosines come from the Numba executor (bit-exact to the reference) and,
where the model exports, from onnxruntime; latency is the median of `--repeats`
interleaved calls on one test batch (Numba and onnxruntime, `--threads` threads).
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
from bert_w8a8 import CALIBRATION, SEQ, SIZES, cosines, export_fp32, session  # noqa: E402

PREFIX = "fold-constants,canonicalize,fold-bn,fuse-activations,dce"
RECIPE = "transformer-recipe{integer=[softmax, gelu, layer_norm]},calibrate{method=mse},quantize,lower"
PIPELINES = {  # label -> (pipeline, None: the target's default; exports to ONNX)
    "static W8A8 (default pipeline)": (None, True),
    "static W8A8 + I-BERT softmax, GELU, LayerNorm": (f"{PREFIX},{RECIPE}", False),
    "dynamic per tensor (quantize{acts=dynamic})": (f"{PREFIX},quantize{{acts=dynamic}},lower", True),
    "dynamic per token (act_granularity=token)": (f"{PREFIX},quantize{{acts=dynamic, act_granularity=token}},lower",
                                                   True),
}


def outlier_bert(clean_last_norm: bool):
    from qcompiler.testing import transformer_models as tm

    model = tm.bert(seed=0, **SIZES)
    last = model.encoder.encoder.layer[-1].output.LayerNorm
    kept = last.weight.detach().clone()
    tm.inject_outlier_channels(model)
    if clean_last_norm:
        with torch.no_grad():
            last.weight.copy_(kept)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clean-last-norm", action="store_true", help="no outliers in the final LayerNorm")
    parser.add_argument("--test", type=int, default=32, help="test sequences")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=10, help="timed calls per model")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    import qcompiler
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from qcompiler.testing import transformer_models as tm

    torch.set_num_threads(args.threads)
    model = outlier_bert(args.clean_last_norm)
    ids, mask = tm.padded_tokens(CALIBRATION, SEQ, vocab_size=SIZES["vocab_size"], seed=1)
    calibration = [(ids[i:i + args.batch].numpy(), mask[i:i + args.batch].numpy())
                   for i in range(0, CALIBRATION, args.batch)]
    tests = [tm.padded_tokens(args.batch, SEQ, vocab_size=SIZES["vocab_size"], seed=100 + i)
             for i in range(args.test // args.batch)]
    feeds = [{"input_ids": i.numpy(), "attention_mask": m.numpy()} for i, m in tests]
    with torch.no_grad():
        expected = np.concatenate([model(i, m).numpy() for i, m in tests])
    rows, timed = [], {}
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        fp32, peer = folder / "fp32.onnx", folder / "dynamic.onnx"
        export_fp32(model, fp32)
        quantize_dynamic(str(fp32), str(peer), per_channel=True, weight_type=QuantType.QInt8)
        for label, path in (("onnxruntime fp32", fp32), ("onnxruntime quantize_dynamic (per-channel)", peer)):
            s = session(path, args.threads)
            cos = cosines(np.concatenate([s.run(None, f)[0] for f in feeds]), expected)
            timed[label + ", onnxruntime"] = lambda s=s: s.run(None, feeds[0])
            rows.append([label, "-", f"{cos.mean():.6f}", f"{cos.min():.6f}"])
        for label, (pipeline, exports) in PIPELINES.items():
            start = time.perf_counter()
            cm = qcompiler.compile(str(fp32), target="x86-vnni", calibration=calibration, progress=False,
                                   pipeline=pipeline)
            seconds = time.perf_counter() - start
            cos = cosines(np.concatenate([cm(f["input_ids"], f["attention_mask"]) for f in feeds]), expected)
            timed[label + ", Numba"] = lambda cm=cm: cm(feeds[0]["input_ids"], feeds[0]["attention_mask"])
            onnx_cos = "not exported"
            if exports:
                path = folder / f"{len(rows)}.onnx"
                cm.export_onnx(path, form="qoperator")
                s = session(path, args.threads)
                ort_cos = cosines(np.concatenate([s.run(None, f)[0] for f in feeds]), expected)
                onnx_cos = f"{ort_cos.mean():.6f} / {ort_cos.min():.6f}"
                timed[label + ", onnxruntime"] = lambda s=s: s.run(None, feeds[0])
            rows.append([f"qcompiler {label}", f"{seconds:.1f}", f"{cos.mean():.6f}", f"{cos.min():.6f}", onnx_cos])
        latency = interleaved_median_ms(timed, repeats=args.repeats, warmup=2)
    for row in rows[:2]:
        row.append("-")
    print(f"BertModel hidden 384, 6 layers, 12 heads, outlier channels x60 "
          f"({'not in' if args.clean_last_norm else 'also in'} the final LayerNorm); calibration {CALIBRATION} x "
          f"{SEQ} tokens, test {args.test} x {SEQ} (padded), batch {args.batch}, {args.threads} threads")
    print(f"CPU: {cpu_description()}")
    print(markdown_table(["model", "compile s", "pooled cos mean (Numba)", "pooled cos min (Numba)",
                          "onnxruntime cos mean / min"], rows, align="lrrrr"))
    print()
    print(markdown_table([f"latency, batch of {args.batch}", "ms (median)"],
                         [[k, f"{v:.1f}"] for k, v in latency.items()], align="lr"))


if __name__ == "__main__":
    main()
