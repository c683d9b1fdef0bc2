"""The canonicalize fusions for exported graphs (decomposed LayerNorm -> layer_norm,
decomposed GELU -> gelu, MatMul by a constant + bias Add -> linear), measured on real
exports with the fusion rules and without them, in one run:

    python bench/canonical_fusions.py [--bert-layers 6 --bert-hidden 384] [--ocr-lines 64 --ocr-methods kl,percentile]

1. PP-OCRv4 rec (rapidocr_onnxruntime): op counts after fold-constants,canonicalize,dce
   and the float graph's outputs (max |diff| / max |reference|) against onnxruntime fp32
   and against the graph without the fusions, on 8 rendered text lines squeezed to 48 x 320.
2. transformers BertModel (a config with seeded weights, masked mean pooling) exported
   with the legacy ONNX exporter at opset 17: op counts after the target's default
   pipeline and the pooled embeddings' cosine to fp32 (the worst of 8 padded sequences).
3. rec int8 exact-line accuracy at width 320, scored as bench/ocr_accuracy.py scores it
   (QDQ export in onnxruntime), per calibration method (`--ocr-lines 0` skips it).

"Without" runs canonicalize with the three fusion rule lists taken out of its rule set.
"""
from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_description, markdown_table  # noqa: E402

FUSION_MODULES = ("fuse_layer_norm", "fuse_gelu", "fuse_matmul_bias")
REC_OPS = ("layer_norm", "gelu", "linear", "matmul", "reduce_mean", "pow", "sqrt", "add", "mul")
BERT_OPS = ("qlinear", "qmatmul", "qadd", "qmul", "qlut", "layer_norm", "gelu", "matmul", "erf")


@contextmanager
def fusions(enabled: bool):
    """canonicalize with (the default) or without the fusion rules."""
    from qcompiler.rewrite import RuleSet

    module = importlib.import_module("qcompiler.passes.canonicalize.canonicalize")
    saved = module.RULES
    if not enabled:
        names = {r.name for m in FUSION_MODULES
                 for r in importlib.import_module(f"qcompiler.passes.canonicalize.{m}").RULES}
        module.RULES = RuleSet([r for r in saved.rules if r.name not in names])
    try:
        yield
    finally:
        module.RULES = saved


def _counts(graph, ops) -> list:
    have = Counter(n.op for n in graph.nodes)
    return [have.get(op, 0) for op in ops]


def rec_table(lines: int) -> str:
    from qcompiler.frontends.onnx import import_onnx
    from qcompiler.passmanager import PassContext, PassManager
    from qcompiler.runtime.reference import run_graph
    from qcompiler.testing.ctc_recognizer import dictionary, preprocess, rec_model_path
    from qcompiler.testing.text_lines import text_lines
    from _ort_ptq import predictor, session
    from ocr_accuracy import squeezed

    model = rec_model_path()
    images = [line.image for line in text_lines(lines, seed=2, dictionary=dictionary(model))]
    x = preprocess(squeezed(images, 320))
    reference = predictor(session(model, 1))(x)
    rows, outputs = [], []
    for enabled in (False, True):
        with fusions(enabled):
            graph = import_onnx(model)
            PassManager("fold-constants,canonicalize,dce").run(graph, PassContext())
        (ours,) = run_graph(graph, [x])
        outputs.append(ours)
        rows.append(["with" if enabled else "without", *_counts(graph, REC_OPS), _relative(ours, reference),
                     _relative(ours, outputs[0])])
    return markdown_table(["fusions", *REC_OPS, "vs onnxruntime", "vs without"], rows,
                          "l" + "r" * (len(REC_OPS) + 2))


def _relative(a, b) -> str:
    """max |a - b| / max |b|"""
    return f"{np.abs(a - b).max() / np.abs(b).max():.1e}"


def bert_table(layers: int, hidden: int, target: str, work: Path) -> str:
    import torch

    import qcompiler
    from qcompiler.testing.transformer_models import bert, padded_tokens

    heads = max(1, hidden // 32)
    model = bert(layers=layers, hidden=hidden, heads=heads, intermediate=4 * hidden)
    ids, mask = padded_tokens(batch=2)
    path = work / "bert.onnx"
    torch.onnx.export(model, (ids, mask), str(path), dynamo=False, opset_version=17,
                      input_names=["input_ids", "attention_mask"],
                      dynamic_axes={"input_ids": {0: "N"}, "attention_mask": {0: "N"}})
    calib_ids, calib_mask = padded_tokens(batch=16, seed=1)
    test_ids, test_mask = padded_tokens(batch=8, seed=2)
    with torch.no_grad():
        fp32 = model(test_ids, test_mask).numpy()
    rows = []
    for enabled in (False, True):
        start = time.perf_counter()
        with fusions(enabled):
            cm = qcompiler.compile(str(path), target=target, progress=False,
                                   calibration={"input_ids": calib_ids.numpy(), "attention_mask": calib_mask.numpy()})
        seconds = time.perf_counter() - start
        out = cm(test_ids.numpy(), test_mask.numpy())
        out = out[0] if isinstance(out, (list, tuple)) else out
        cosine = (out * fp32).sum(1) / np.linalg.norm(out, axis=1) / np.linalg.norm(fp32, axis=1)
        rows.append(["with" if enabled else "without", *_counts(cm.graph, BERT_OPS), f"{cosine.min():.4f}",
                     f"{seconds:.1f}"])
    title = f"BertModel {layers} layers, hidden {hidden}, {heads} heads, ONNX opset 17, {target} default pipeline"
    return title + "\n\n" + markdown_table(["fusions", *BERT_OPS, "min cosine", "compile s"], rows,
                                           "l" + "r" * (len(BERT_OPS) + 2))


def ocr_table(lines: int, calib_lines: int, methods: list, target: str, work: Path) -> str:
    from ocr_accuracy import calibration_batches, qcompiler_rows, squeezed
    from qcompiler.testing.ctc_recognizer import dictionary, rec_model_path, recognize, score
    from qcompiler.testing.text_lines import text_lines
    from _ort_ptq import predictor, session

    model = rec_model_path()
    chars = dictionary(model)
    test = text_lines(lines, seed=2, dictionary=chars)
    images, truth = squeezed([line.image for line in test], 320), [line.text for line in test]
    calib = calibration_batches(squeezed([line.image for line in text_lines(calib_lines, seed=1, dictionary=chars)],
                                         320), 16)

    def evaluate(run) -> dict:
        start = time.perf_counter()
        return {**score(recognize(run, images, chars), truth),
                "ms_per_line": 1000 * (time.perf_counter() - start) / len(images)}

    rows = [("fp32 (onnxruntime)", "-", 0.0, evaluate(predictor(session(model, 1))))]
    for enabled in (False, True):
        with fusions(enabled):
            rows += [(name, "with" if enabled else "without", s, r)
                     for name, s, r in qcompiler_rows(model, calib, evaluate, methods, target, "onnx", work)]
    table = [(name, fused, f"{s:.1f}", *(("-", "-", r["error"]) if "error" in r else
                                         (f"{100 * r['line_acc']:.1f}%", f"{100 * r['cer']:.2f}%", "")))
             for name, fused, s, r in rows]
    return (f"{lines} test lines (seed 2), {calib_lines} calibration lines (seed 1) in batches of 16, width 320\n\n"
            + markdown_table(["configuration", "fusions", "quantize s", "line accuracy", "CER", "error"], table,
                             "llrrrl"))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rec-lines", type=int, default=8)
    ap.add_argument("--bert-layers", type=int, default=6)
    ap.add_argument("--bert-hidden", type=int, default=384)
    ap.add_argument("--ocr-lines", type=int, default=64)
    ap.add_argument("--ocr-calib-lines", type=int, default=64)
    ap.add_argument("--ocr-methods", default="kl,percentile")
    ap.add_argument("--target", default="x86-vnni")
    args = ap.parse_args(argv)

    print(f"# CPU: {cpu_description()}\n")
    print("## PP-OCRv4 rec after fold-constants,canonicalize,dce\n")
    print(rec_table(args.rec_lines) + "\n", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        print("## " + bert_table(args.bert_layers, args.bert_hidden, args.target, Path(tmp)) + "\n", flush=True)
        if args.ocr_lines:
            methods = [m for m in args.ocr_methods.split(",") if m]
            print("## rec int8 exact-line accuracy\n")
            print(ocr_table(args.ocr_lines, args.ocr_calib_lines, methods, args.target, Path(tmp)))


if __name__ == "__main__":
    main()
