"""LRN, the one op of the light zoo (AlexNet, ZFNet, Inception v1) that had no catalog
op: imported natively, agreeing with onnxruntime, the ONNX formula and its torch impl,
and exported as ONNX LRN."""
import numpy as np
import pytest
import torch
from onnx import helper

from qcompiler.backends.onnx import to_onnx
from qcompiler.frontends.onnx import import_onnx
from qcompiler.ir.registry import get_op
from qcompiler.runtime.reference import run_graph
from qcompiler.testing.onnx_models import make_model, run_onnxruntime, tensor

RNG = np.random.default_rng(0)


def lrn_model(shape, opset=9, **attrs):
    return make_model([helper.make_node("LRN", ["x"], ["y"], **attrs)], [tensor("x", shape)], [tensor("y", shape)],
                      opset)


def spec_lrn(x, size, alpha, beta, bias):
    """ONNX's definition, one channel at a time."""
    c = x.shape[1]
    out = np.empty_like(x, dtype=np.float64)
    for ch in range(c):
        lo, hi = max(0, ch - (size - 1) // 2), min(c - 1, ch + (size - 1 + 1) // 2)
        square_sum = np.sum(x[:, lo:hi + 1].astype(np.float64) ** 2, axis=1)
        out[:, ch] = x[:, ch] / (bias + alpha / size * square_sum) ** beta
    return out


@pytest.mark.parametrize("shape, attrs", [
    ((2, 7, 5, 4), dict(size=5)),  # AlexNet's defaults: alpha 1e-4, beta 0.75, bias 1
    ((2, 7, 5, 4), dict(size=3, alpha=0.5, beta=0.6, bias=2.0)),
    ((1, 6, 3, 3), dict(size=7, alpha=0.2)),  # window wider than the channels
], ids=["alexnet", "attrs", "wide"])
def test_lrn_imports_natively_and_matches_onnxruntime(shape, attrs):
    model = lrn_model(shape, **attrs)
    graph = import_onnx(model)
    assert [n.op for n in graph.nodes] == ["lrn"], "LRN is a catalog op, not opaque"
    x = (RNG.standard_normal(shape) * 4).astype(np.float32)
    expected = run_onnxruntime(model, {"x": x})[0]
    np.testing.assert_allclose(run_graph(graph, {"x": x})[0], expected, rtol=1e-5, atol=1e-6)
    exported = to_onnx(graph)
    assert [n.op_type for n in exported.graph.node] == ["LRN"]
    np.testing.assert_allclose(run_onnxruntime(exported, {"x": x})[0], expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("size, shape", [(1, (2, 5, 3, 3)), (2, (2, 5, 3, 3)), (4, (2, 5, 3, 3)), (6, (2, 5, 3, 3)),
                                         (3, (2, 5, 7))])
def test_lrn_reference_and_torch_impl_follow_the_onnx_window(size, shape):
    # onnxruntime refuses even sizes and other ranks than 4; the ONNX formula still
    # defines them (an even window is one channel longer after c than before it)
    x = (RNG.standard_normal(shape) * 3).astype(np.float32)
    attrs = dict(size=size, alpha=0.3, beta=0.75, bias=1.5)
    want = spec_lrn(x, **attrs)
    np.testing.assert_allclose(get_op("lrn").reference(x, **attrs), want, rtol=1e-5)
    np.testing.assert_allclose(get_op("lrn").torch(torch.from_numpy(x), **attrs).numpy(), want, rtol=1e-5)


def test_lrn_over_a_matrix_stays_opaque_with_the_reason():
    graph, opaque = import_onnx(lrn_model((4, 6), size=3), report=True)
    assert [o.op for o in opaque] == ["onnx.LRN"] and "rank-2" in opaque[0].reason
