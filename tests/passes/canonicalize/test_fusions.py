"""The fusing canonicalizations (fuse_layer_norm.py, fuse_gelu.py, fuse_matmul_bias.py)
keep the numerics of what they replace: on the FileCheck graphs, on what torch's ONNX
exporter writes at opset 16 (LayerNorm and GELU decomposed, Linear as MatMul + Add) and
on the PP-OCRv4 recognizer's decomposed LayerNorms."""
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from qcompiler.frontends.onnx import import_onnx
from qcompiler.ir.clone import clone
from qcompiler.ir.parser import parse
from qcompiler.passmanager import PassContext, PassManager
from qcompiler.runtime.reference import run_graph
from qcompiler.testing.ctc_recognizer import dictionary, preprocess, rec_model_path
from qcompiler.testing.onnx_models import floats, ints, make_model, run_onnxruntime, tensor
from qcompiler.testing.text_lines import text_lines

HERE = Path(__file__).parent
PIPELINE = "fold-constants,canonicalize,dce"

# positive FileCheck cases -> rules that must fire on them
FUSING = {
    "fuse_layer_norm.qir": {"layer-norm-div", "layer-norm-scale", "layer-norm-shift"},
    "fuse_layer_norm_variants.qir": {"layer-norm-mul", "layer-norm-scale"},
    "fuse_gelu.qir": {"gelu-erf-half-last", "gelu-erf-gate-last", "gelu-erf-x-last", "gelu-tanh-half-last",
                      "gelu-tanh-gate-last"},
    "fuse_matmul_bias.qir": {"matmul-to-linear", "bias-add-into-producer"},
}


def relative_error(ours, reference) -> float:
    return float(np.abs(ours - reference).max() / np.abs(reference).max())


@pytest.mark.parametrize("name", sorted(FUSING))
def test_fused_graphs_compute_what_the_decomposed_ones_did(run_and_compare, name):
    graph = parse((HERE / name).read_text())
    stats = run_and_compare(graph, "canonicalize,dce", rtol=1e-5, atol=1e-6)
    assert FUSING[name] <= set(stats["canonicalize"])


def layer_norm_onnx(opset: int):
    """Paddle's decomposed LayerNorm over the last axis; ReduceMean takes its axes as an
    attribute before opset 18 and as an input from 18 on."""
    from onnx import helper

    def mean(src, dst):
        if opset >= 18:
            return helper.make_node("ReduceMean", [src, "axes"], [dst])
        return helper.make_node("ReduceMean", [src], [dst], axes=[-1])

    nodes = [mean("x", "mean"), helper.make_node("Sub", ["x", "mean"], ["d"]),
             helper.make_node("Pow", ["d", "two"], ["sq"]), mean("sq", "var"),
             helper.make_node("Add", ["var", "eps"], ["ve"]), helper.make_node("Sqrt", ["ve"], ["std"]),
             helper.make_node("Div", ["d", "std"], ["n"]), helper.make_node("Mul", ["n", "gamma"], ["s"]),
             helper.make_node("Add", ["s", "beta"], ["y"])]
    rng = np.random.default_rng(0)
    inits = [floats("two", 2.0), floats("eps", 1e-5), floats("gamma", rng.normal(1, 0.2, 8)),
             floats("beta", rng.normal(0, 0.2, 8))] + ([ints("axes", [-1])] if opset >= 18 else [])
    return make_model(nodes, [tensor("x", [2, 3, 8])], [tensor("y", [2, 3, 8])], opset, inits=inits)


@pytest.mark.parametrize("opset", [13, 18])
def test_onnx_layer_norm_with_axes_as_attribute_or_input_fuses(opset):
    model = layer_norm_onnx(opset)
    graph = import_onnx(model)
    PassManager(PIPELINE).run(graph, PassContext())
    assert [n.op for n in graph.nodes if n.op != "const"] == ["layer_norm"]
    x = np.random.default_rng(1).normal(0, 3, (2, 3, 8)).astype(np.float32)
    (ours,), (theirs,) = run_graph(graph, [x]), run_onnxruntime(model, {"x": x})
    assert relative_error(ours, theirs) <= 1e-5


def test_torch_onnx_export_at_opset_16_fuses_into_linear_gelu_and_layer_norm(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 32), nn.GELU(), nn.Linear(32, 16), nn.LayerNorm(16),
                          nn.GELU(approximate="tanh")).eval()
    x = torch.randn(2, 5, 16)
    path = tmp_path / "mlp.onnx"
    torch.onnx.export(model, (x,), str(path), dynamo=False, opset_version=16)
    graph = import_onnx(path)
    PassManager(PIPELINE).run(graph, PassContext())
    assert Counter(n.op for n in graph.nodes if n.op != "const") == {"linear": 2, "gelu": 2, "layer_norm": 1}
    assert [n.attrs.get("approximate", "none") for n in graph.nodes if n.op == "gelu"] == ["none", "tanh"]
    (ours,) = run_graph(graph, [x.numpy()])
    with torch.no_grad():
        reference = model(x).numpy()
    assert relative_error(ours, reference) <= 1e-5


def test_rec_decomposed_layer_norms_and_linears_fuse_without_changing_the_output():
    model = rec_model_path()
    line = text_lines(1, seed=2, dictionary=dictionary(model))[0].image
    x = preprocess([line])
    imported = import_onnx(model)
    fused = clone(imported)
    pm = PassManager(PIPELINE)
    pm.run(fused, PassContext())
    counts = Counter(n.op for n in fused.nodes)
    # 5 SVTR LayerNorms; 9 linear layers; the 4 attention products of two activations stay matmuls
    assert (counts["layer_norm"], counts["linear"], counts["matmul"]) == (5, 9, 4)
    assert not {"reduce_mean", "pow", "sqrt", "div"} & set(counts)
    assert pm.history[1].stats["layer-norm-shift"] == 5
    (before,), (after,) = run_graph(imported, [x]), run_graph(fused, [x])
    assert relative_error(after, before) <= 1e-5
