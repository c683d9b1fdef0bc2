"""A Hugging Face BertModel (tiny config, seeded weights, masked mean pooling) exported by
torch.onnx's legacy (opset 17) and dynamo (opset 18) exporters with dynamic batch and
sequence axes imports, compiles for x86-vnni with the default pipeline, and runs in Numba
and as exported QDQ in onnxruntime at two sizes other than the calibration's, padded.
Its attention masks (-inf from the legacy sdpa export, finfo.min from dynamo) end up as
masked_softmax's bool operand: no quantized value holds them."""
import numpy as np
import onnxruntime as ort
import pytest
import torch

import qcompiler
from qcompiler.ir.types import QuantType
from qcompiler.testing import transformer_models as tm

NAMES = dict(input_names=["input_ids", "attention_mask"], output_names=["pooled"])


def export(model, path, exporter: str) -> None:
    ids, mask = tm.padded_tokens(2, 16)
    if exporter == "legacy":
        axes = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}, "pooled": {0: "batch"}}
        torch.onnx.export(model, (ids, mask), path, dynamo=False, opset_version=17, dynamic_axes=axes, **NAMES)
    else:
        batch, seq = torch.export.Dim("batch"), torch.export.Dim("seq", max=64)
        shapes = {"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: seq}}
        torch.onnx.export(model, (ids, mask), path, dynamo=True, opset_version=18, dynamic_shapes=shapes,
                          external_data=False, **NAMES)


@pytest.fixture(scope="module", params=["legacy", "dynamo"])
def compiled(request, tmp_path_factory):
    model = tm.bert(seed=0)
    folder = tmp_path_factory.mktemp(f"bert_{request.param}")
    export(model, str(folder / "bert.onnx"), request.param)
    ids, mask = tm.padded_tokens(8, 16, seed=1)
    cm = qcompiler.compile(str(folder / "bert.onnx"), target="x86-vnni",
                           calibration={"input_ids": ids.numpy(), "attention_mask": mask.numpy()}, progress=False)
    qdq = ort.InferenceSession(cm.export_onnx(str(folder / "qdq.onnx"), form="qdq"),
                               providers=["CPUExecutionProvider"])
    return model, cm, qdq


def test_attention_masks_are_bool_operands_of_masked_softmax(compiled):
    _, cm, _ = compiled
    softmaxes = [n for n in cm.graph.nodes if n.op in ("softmax", "masked_softmax")]
    assert len(softmaxes) == 2 and all(n.op == "masked_softmax" for n in softmaxes)
    assert all(n.inputs[1].type.dtype == "bool" and n.attrs["fill"] <= -1e38 for n in softmaxes)
    # a quantized mask would need a scale of about 1e36; real activations here are O(10)
    # (constants are left out: the padding row of the word embedding is all zero and
    # keeps the safe per-row scale 1)
    scales = [float(np.max(v.type.scale.array)) for v in cm.graph.values()
              if isinstance(v.type, QuantType) and not (v.producer is not None and v.producer.op == "const")]
    assert scales and max(scales) < 1


def cosines(a, b) -> np.ndarray:
    return np.sum(a * b, 1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.mark.parametrize("batch, seq", [(3, 11), (5, 24)])
def test_numba_and_qdq_onnxruntime_follow_fp32_at_other_sizes(compiled, batch, seq):
    model, cm, qdq = compiled
    ids, mask = tm.padded_tokens(batch, seq, seed=batch)
    with torch.no_grad():
        expected = model(ids, mask).numpy()
    numba = cm(ids.numpy(), mask.numpy())
    onnx_qdq = qdq.run(None, {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})[0]
    assert numba.shape == onnx_qdq.shape == (batch, 64)
    assert cosines(numba, expected).min() > 0.999
    assert cosines(onnx_qdq, expected).min() > 0.999
    np.testing.assert_allclose(onnx_qdq, numba, atol=0.05 * np.abs(expected).max())
