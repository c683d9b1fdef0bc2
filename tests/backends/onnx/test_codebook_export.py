"""Codebook weights exported as standard ONNX (Gather of a dequantized codebook, or int8
weights) run in ONNX Runtime and equal the reference interpreter within float tolerance."""
import numpy as np
import onnx
import pytest
import torch
from onnx_export_helpers import run_onnx
from torch import nn

from qcompiler.backends.onnx import OnnxExportError, export, to_onnx
from qcompiler.frontends.fx import import_module
from qcompiler.passmanager import run_pipeline
from qcompiler.runtime.reference import run_graph

X = np.random.default_rng(0).standard_normal((3, 3, 10, 10)).astype(np.float32)


@pytest.fixture(scope="module")
def codebook_graph():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, stride=2),
                          nn.Conv2d(32, 32, 3, padding=1, groups=4), nn.Flatten(), nn.Linear(32 * 4 * 4, 5))
    g = import_module(model.eval(), (torch.from_numpy(X[:1]),), dynamic_batch=True)
    run_pipeline(g, "codebook-quantize{index_bits=3}")
    return g


@pytest.mark.parametrize("weights, present, absent", [("gather", {"Gather", "Cast", "DequantizeLinear"}, set()),
                                                       ("int8", {"DequantizeLinear"}, {"Gather"})])
def test_runs_in_onnxruntime_like_the_reference(codebook_graph, weights, present, absent):
    model = to_onnx(codebook_graph, codebook=weights)
    ops = {n.op_type for n in model.graph.node}
    assert present <= ops and not absent & ops and "Conv" in ops
    got = run_onnx(model, {codebook_graph.inputs[0].name: X})
    np.testing.assert_allclose(next(iter(got.values())), run_graph(codebook_graph, [X])[0], rtol=1e-5, atol=1e-5)


def initializer_bytes(model) -> int:
    return sum(onnx.numpy_helper.to_array(t).nbytes for t in model.graph.initializer)


def test_gather_form_stores_the_codebook_and_a_byte_per_kernel(codebook_graph, tmp_path):
    gather = export(codebook_graph, tmp_path / "gather.onnx")  # the default spelling
    assert initializer_bytes(onnx.load(tmp_path / "gather.onnx")) == initializer_bytes(gather)
    int8 = to_onnx(codebook_graph, codebook="int8")
    weights = 16 * 3 * 9 + 32 * 16 * 9 + 32 * 8 * 9  # one int8 byte each
    kernels, codebooks = weights // 9, 3 * 8 * 9  # a u8 index each; three 8-word int8 codebooks
    assert initializer_bytes(int8) - initializer_bytes(gather) == weights - kernels - codebooks


def test_unknown_form(codebook_graph):
    with pytest.raises(OnnxExportError, match="codebook='int4'; expected one of gather, int8"):
        to_onnx(codebook_graph, codebook="int4")
