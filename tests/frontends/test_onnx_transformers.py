"""BERT, DistilBERT, ViT and nn.TransformerEncoder (tiny, seeded: testing/transformer_models)
exported by torch.onnx's legacy (opset 17) and dynamo (opset 18) exporters with dynamic
batch and sequence axes import with no opaque node, equal onnxruntime in fp32, compile
for x86-vnni and run in Numba at two sizes.

The legacy export of nn.MultiheadAttention bakes the traced sequence length into its
reshapes (onnxruntime itself fails at another one), so that model varies the batch only."""
import warnings

import numpy as np
import onnxruntime as ort
import pytest
import torch

import qcompiler
from qcompiler.frontends.onnx import import_onnx
from qcompiler.runtime.reference import run_graph
from qcompiler.testing import transformer_models as tm

SIZES = dict(hidden=32, layers=1, heads=2, intermediate=64)
TEXT = dict(SIZES, max_positions=32)
IMAGE = 16
SEQ = 12  # the traced and calibration length
MODELS = {"bert": lambda: tm.bert(**TEXT), "distilbert": lambda: tm.distilbert(**TEXT),
          "vit": lambda: tm.vit(image=IMAGE, **SIZES), "torch_encoder": lambda: tm.torch_encoder(**TEXT)}
CASES = [(kind, exporter) for kind in MODELS for exporter in ("legacy", "dynamo")]


def inputs(kind: str, batch: int, seq: int, seed: int) -> dict:
    if kind == "vit":
        return {"pixel_values": tm.images(batch, IMAGE, seed=seed).numpy()}
    ids, mask = tm.padded_tokens(batch, seq, seed=seed)
    return {"input_ids": ids.numpy(), "attention_mask": mask.numpy()}


def export(kind: str, exporter: str, path: str) -> None:
    example = tuple(torch.from_numpy(v) for v in inputs(kind, 2, SEQ, seed=0).values())
    names = list(inputs(kind, 1, 1, 0))
    dims = {0: "batch"} if kind == "vit" else {0: "batch", 1: "seq"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if exporter == "legacy":
            axes = {**{n: dims for n in names}, "out": {0: "batch"}}
            torch.onnx.export(MODELS[kind](), example, path, dynamo=False, opset_version=17, dynamic_axes=axes,
                              input_names=names, output_names=["out"])
        else:
            shapes = {n: {i: torch.export.Dim(d, max=64) for i, d in dims.items()} for n in names}
            torch.onnx.export(MODELS[kind](), example, path, dynamo=True, opset_version=18, dynamic_shapes=shapes,
                              external_data=False, input_names=names, output_names=["out"], verbose=False)


def run_sizes(kind: str, exporter: str) -> list:
    seqs = (SEQ, SEQ) if (kind, exporter) == ("torch_encoder", "legacy") else (7, 20)
    return [(3, seqs[0]), (5, seqs[1])]


@pytest.fixture(scope="module", params=CASES, ids=["-".join(c) for c in CASES])
def case(request, tmp_path_factory):
    kind, exporter = request.param
    path = str(tmp_path_factory.mktemp(f"{kind}_{exporter}") / "model.onnx")
    export(kind, exporter, path)
    graph, opaque = import_onnx(path, report=True)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    compiled = qcompiler.compile(path, target="x86-vnni", calibration=inputs(kind, 4, SEQ, seed=1), progress=False)
    return kind, exporter, graph, opaque, session, compiled


def test_imports_with_no_opaque_node_and_equals_onnxruntime(case):
    kind, exporter, graph, opaque, session, _ = case
    assert [str(o) for o in opaque] == []
    for batch, seq in run_sizes(kind, exporter):
        feeds = inputs(kind, batch, seq, seed=batch)
        (expected,) = session.run(None, feeds)
        (ours,) = run_graph(graph, feeds)
        assert ours.shape == expected.shape
        assert np.abs(ours - expected).max() <= 1e-5 * np.abs(expected).max()


def test_compiles_for_x86_vnni_and_runs_in_numba_at_two_sizes(case):
    kind, exporter, _, _, session, compiled = case
    for batch, seq in run_sizes(kind, exporter):
        feeds = inputs(kind, batch, seq, seed=batch)
        (expected,) = session.run(None, feeds)
        ours = compiled(*feeds.values())
        assert ours.shape == expected.shape == (batch, SIZES["hidden"])
        cosine = np.sum(ours * expected, 1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(expected, axis=1)
        assert cosine.min() > 0.99, f"{kind}/{exporter} at {batch}x{seq}: cosine {cosine.min():.4f}"
