"""A tiny Hugging Face BertModel exported to ONNX, int8 against fp32: masked-mean-pooled
embedding cosine on padded token batches and attention-softmax SQNR, qcompiler with and
without the additive-mask fold (masked_softmax) next to onnxruntime's quantize_dynamic.

    python bench/transformer_accuracy.py [--exporter legacy|dynamo] [--attn sdpa|eager] [--qk-gain 1,8]
        [--value-gain 1] [--calibration 32] [--test 16] [--batch 8] [--seq 32]

The model is qcompiler.testing.transformer_models.bert (hidden 64, 2 layers, 4 heads,
vocab 1000, seeded random weights, masked mean pooling), exported by
torch.onnx (legacy: opset 17, dynamo: opset 18) with dynamic batch and sequence axes.
Random weights give near-uniform attention (scores ~0.1), where losing the scores costs
little; `--qk-gain G` multiplies the query projection by G, so the scores span the
few units trained models' do and the softmax matters. Calibration and test sequences
are different seeded padded batches (the first sequence full, the others cut short).

- qcompiler: x86-vnni's default pipeline, run by the Numba executor. "masks folded" is
  the pipeline as built; "masks quantized" removes canonicalize's additive-mask rule
  (the state before it), so the [finfo.min, 0] mask is added to the scores in u8.
- softmax SQNR: every attention softmax of the quantized graph (before lowering) against
  the float graph's, on the first test batch, reference interpreter; worst layer.
- "QDQ in onnxruntime": the folded model exported as QDQ (masked_softmax as
  Where/Add/Softmax in float between the quantized matmuls), run by onnxruntime.
- onnxruntime quantize_dynamic: the same ONNX file, per-channel s8 weights, activations
  quantized per batch at run time (what transformers users compare against).
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


def bert_model(qk_gain: float, value_gain: float, attn: str):
    from qcompiler.testing import transformer_models as tm

    model = tm.bert(seed=0, attn=attn)
    with torch.no_grad():
        for layer in model.encoder.encoder.layer:
            for projection, gain in ((layer.attention.self.query, qk_gain), (layer.attention.self.value, value_gain)):
                projection.weight *= gain
                projection.bias *= gain
    return model


def export(model, path: Path, exporter: str) -> None:
    from qcompiler.testing import transformer_models as tm

    names = dict(input_names=["input_ids", "attention_mask"], output_names=["pooled"])
    ids, mask = tm.padded_tokens(2, 16)
    if exporter == "legacy":
        axes = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}, "pooled": {0: "batch"}}
        torch.onnx.export(model, (ids, mask), str(path), dynamo=False, opset_version=17, dynamic_axes=axes, **names)
    else:
        batch, seq = torch.export.Dim("batch"), torch.export.Dim("seq", max=512)
        shapes = {"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: seq}}
        torch.onnx.export(model, (ids, mask), str(path), dynamo=True, opset_version=18, dynamic_shapes=shapes,
                          external_data=False, **names)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, 1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def softmax_sqnr(cm, feeds: list) -> float:
    """Worst attention-softmax SQNR (dB) of the quantized graph against the float one."""
    from qcompiler.numerics.sqnr import sqnr_db
    from qcompiler.runtime.reference import run_graph

    names = [n.output.name for n in cm.fake_quant_graph.nodes if n.op in ("softmax", "masked_softmax")]
    _, floats = run_graph(cm.float_graph, feeds, keep=True)
    _, quantized = run_graph(cm.fake_quant_graph, feeds, keep=True)
    return min(float(sqnr_db(floats[n], quantized[n])) for n in names)


def compile_qcompiler(path: Path, calibration: dict, fold_masks: bool):
    import qcompiler
    from qcompiler.passes.canonicalize import canonicalize
    from qcompiler.rewrite import RuleSet

    rules = canonicalize.RULES
    if not fold_masks:  # the pipeline as it was before the additive-mask rule
        canonicalize.RULES = RuleSet([r for r in rules.rules if r.name != "additive-mask-softmax"])
    try:
        start = time.perf_counter()
        cm = qcompiler.compile(str(path), target="x86-vnni", calibration=calibration, progress=False)
        return cm, time.perf_counter() - start
    finally:
        canonicalize.RULES = rules


def ort_dynamic(path: Path, folder: Path):
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    out = folder / "dynamic.onnx"
    quantize_dynamic(str(path), str(out), per_channel=True, weight_type=QuantType.QInt8)
    return ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])


def measure(args, qk_gain: float) -> list:
    import onnxruntime as ort
    from qcompiler.passmanager import PassError
    from qcompiler.testing import transformer_models as tm

    model = bert_model(qk_gain, args.value_gain, args.attn)
    ids, mask = tm.padded_tokens(args.calibration, args.seq, seed=1)
    calibration = {"input_ids": ids.numpy(), "attention_mask": mask.numpy()}
    tests = [tm.padded_tokens(args.batch, args.seq, seed=100 + i) for i in range(args.test // args.batch)]
    feeds = [[i.numpy(), m.numpy()] for i, m in tests]
    with torch.no_grad():
        expected = np.concatenate([model(i, m).numpy() for i, m in tests])
    rows, failures = [], []
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        path = folder / "bert.onnx"
        export(model, path, args.exporter)
        fp32 = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        runners = {}
        for fold in (True, False):
            label = "qcompiler int8, masks folded" if fold else "qcompiler int8, masks quantized"
            try:
                cm, seconds = compile_qcompiler(path, calibration, fold)
            except PassError as e:  # the -inf mask of an sdpa export, unfolded, stops calibrate
                failures.append([f"{qk_gain:g}", label, f"fails: {str(e.__cause__ or e)[:90]}..."])
                continue
            got = np.concatenate([cm(*f) for f in feeds])
            runners[label] = lambda cm=cm: cm(*feeds[0])
            rows.append([label, cosines(got, expected), softmax_sqnr(cm, feeds[0]), f"{seconds:.1f}"])
            if fold:
                qdq = ort.InferenceSession(cm.export_onnx(str(folder / "qdq.onnx"), form="qdq"),
                                           providers=["CPUExecutionProvider"])
                label = "qcompiler int8, masks folded, QDQ in onnxruntime"
                got = np.concatenate([qdq.run(None, {"input_ids": f[0], "attention_mask": f[1]})[0] for f in feeds])
                runners[label] = lambda: qdq.run(None, {"input_ids": feeds[0][0], "attention_mask": feeds[0][1]})
                rows.append([label, cosines(got, expected), None, ""])
        dynamic = ort_dynamic(path, folder)

        def run_dynamic(f):
            return dynamic.run(None, {"input_ids": f[0], "attention_mask": f[1]})[0]

        got = np.concatenate([run_dynamic(f) for f in feeds])
        rows.append(["onnxruntime quantize_dynamic (per-channel)", cosines(got, expected), None, ""])
        runners["onnxruntime quantize_dynamic (per-channel)"] = lambda: run_dynamic(feeds[0])
        runners["onnxruntime fp32"] = lambda: fp32.run(None, {"input_ids": feeds[0][0], "attention_mask": feeds[0][1]})
        latency = interleaved_median_ms(runners, repeats=20, warmup=2)
    table = []
    for label, cos, sq, seconds in rows:
        table.append([f"{qk_gain:g}", label, f"{cos.mean():.5f}", f"{cos.min():.5f}",
                      "-" if sq is None else f"{sq:.1f}", f"{latency[label]:.2f}", seconds])
    table.append([f"{qk_gain:g}", "onnxruntime fp32", "1", "1", "-", f"{latency['onnxruntime fp32']:.2f}", ""])
    return table + [row + [""] * 4 for row in failures]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exporter", choices=["legacy", "dynamo"], default="legacy")
    parser.add_argument("--attn", choices=["sdpa", "eager"], default="sdpa",
                        help="transformers attention (the legacy export of sdpa masks with -inf, eager with finfo.min)")
    parser.add_argument("--qk-gain", default="1,8", help="comma-separated query-projection gains")
    parser.add_argument("--value-gain", type=float, default=1.0, help="value-projection gain (attention's share)")
    parser.add_argument("--calibration", type=int, default=32, help="calibration sequences")
    parser.add_argument("--test", type=int, default=16, help="test sequences")
    parser.add_argument("--batch", type=int, default=8, help="test batch size (latency is per batch)")
    parser.add_argument("--seq", type=int, default=32, help="sequence length (padded)")
    args = parser.parse_args()
    torch.manual_seed(0)
    rows = [row for gain in args.qk_gain.split(",") for row in measure(args, float(gain))]
    print(f"BertModel (hidden 64, 2 layers, 4 heads, {args.attn} attention), {args.exporter} ONNX export; calibration "
          f"{args.calibration} x {args.seq} tokens, test {args.test} x {args.seq} (padded), batch {args.batch}")
    print(f"CPU: {cpu_description()}")
    print(markdown_table(["qk gain", "quantizer", "pooled cos mean", "pooled cos min", "softmax SQNR dB (worst)",
                          f"ms / batch of {args.batch}", "compile s"], rows, align="llrrrrr"))


if __name__ == "__main__":
    main()
