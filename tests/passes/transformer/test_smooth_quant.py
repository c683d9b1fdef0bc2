"""smooth-quant keeps the float function and flattens the linears' inputs; the
transformer recipe on an outlier-injected tiny BERT (compiled once per module)."""
import numpy as np
import pytest
import torch

import qcompiler
from qcompiler.ir.clone import clone
from qcompiler.ir.core import Graph
from qcompiler.ir.types import TensorType
from qcompiler.model.loading import load_model
from qcompiler.numerics.sqnr import sqnr_db
from qcompiler.passmanager import PassContext, PassManager
from qcompiler.passes.transformer.errors import TransformerRecipeError
from qcompiler.passes.transformer.smooth_quant import SmoothQuant
from qcompiler.runtime.reference import run_graph
from qcompiler.testing import transformer_models as tm

PREFIX = "fold-constants,canonicalize,fold-bn,fuse-activations,dce"
QUANTIZE = "calibrate{method=mse},quantize,lower"


def outlier_bert():
    """Tiny BERT with outlier channels in every LayerNorm but the last, whose output is
    pooled (its own outliers would dominate the cosine and hide everything else)."""
    model = tm.bert(seed=0)
    last = model.encoder.encoder.layer[-1].output.LayerNorm
    kept = last.weight.detach().clone()
    tm.inject_outlier_channels(model)
    with torch.no_grad():
        last.weight.copy_(kept)
    return model


@pytest.fixture(scope="module")
def data():
    ids, mask = tm.padded_tokens(16, 16, seed=1)
    test_ids, test_mask = tm.padded_tokens(8, 16, seed=100)
    return [(ids[i:i + 8].numpy(), mask[i:i + 8].numpy()) for i in (0, 8)], (test_ids.numpy(), test_mask.numpy())


@pytest.fixture(scope="module")
def compiled(data):
    model = outlier_bert()
    calib, _ = data
    example = tuple(torch.from_numpy(a) for a in calib[0])

    def build(pipeline):
        return qcompiler.compile(model, target="x86-vnni", calibration=calib, example_inputs=example,
                                 progress=False, pipeline=pipeline)

    # "recipe": the target's default pipeline, which picks the recipe for a transformer
    return model, {"none": build(f"{PREFIX},{QUANTIZE}"), "recipe": build(None),
                   "float stream": build(f"{PREFIX},transformer-recipe{{smooth=false}},{QUANTIZE}")}


def pooled_cosine(model, cm, test) -> float:
    with torch.no_grad():
        expected = model(*(torch.from_numpy(a) for a in test)).numpy()
    got = cm(*test)
    return float(np.min(np.sum(got * expected, 1) / np.linalg.norm(got, axis=1) / np.linalg.norm(expected, axis=1)))


def smoothed_linear_sqnr(cm, test) -> float:
    """Worst SQNR of the linears reading a LayerNorm (smoothed or not), fake-quant vs float."""
    graph = cm.float_graph
    names = [n.output.name for n in graph.nodes if n.op == "linear"
             and n.inputs[0].producer is not None and n.inputs[0].producer.op in ("layer_norm", "mul")]
    _, floats = run_graph(graph, list(test), keep=True)
    _, quantized = run_graph(cm.fake_quant_graph, list(test), keep=True)
    return min(float(sqnr_db(floats[n], quantized[n])) for n in names)


def test_smooth_quant_keeps_the_float_function(data):
    calib, test = data
    graph = load_model(outlier_bert(), tuple(torch.from_numpy(a) for a in calib[0]), dynamic_batch=True)
    PassManager(PREFIX).run(graph, PassContext())
    before = clone(graph)
    manager = PassManager([SmoothQuant(alpha=0.5)])
    manager.run(graph, PassContext(calibration=calib))
    # post-LN BERT: each LayerNorm also feeds a residual add, so the scales go into a mul
    assert manager.history[0].stats == {"sites": 4, "folded_into_layer_norm": 0, "smoothing_muls": 4}
    np.testing.assert_allclose(run_graph(graph, list(test))[0], run_graph(before, list(test))[0], rtol=1e-4, atol=1e-5)


def test_recipe_raises_the_accuracy_of_the_smoothed_linears(compiled, data):
    _, test = data
    model, cms = compiled
    sqnr = {k: smoothed_linear_sqnr(cm, test) for k, cm in cms.items()}
    cosine = {k: pooled_cosine(model, cm, test) for k, cm in cms.items()}
    assert sqnr["recipe"] > sqnr["float stream"] + 6, sqnr  # at least one bit more on the worst linear
    assert cosine["recipe"] > cosine["none"] and cosine["recipe"] > 0.9995, cosine


def test_default_pipeline_keeps_the_residual_stream_float(compiled):
    _, cms = compiled
    graph = cms["recipe"].graph
    assert "transformer-recipe" in cms["recipe"].pipeline
    norms = [n for n in graph.nodes if n.op == "layer_norm"]
    residual = [n for n in graph.nodes if n.op == "add" and any(u.op == "layer_norm" for u in n.output.users)]
    assert len(norms) == 5 and len(residual) == 5  # embeddings + 2 per layer
    assert all(n.attrs.get("q.float") for n in norms + residual)


def test_alpha_out_of_range_is_refused():
    with pytest.raises(TransformerRecipeError, match="alpha=1.5"):
        SmoothQuant(alpha=1.5)


def test_pre_layer_norm_scales_fold_into_gamma_and_beta():
    rng = np.random.default_rng(0)
    g = Graph("pre_ln")
    x = g.add_input("x", TensorType("f32", ("N", 8)))
    gamma = np.ones(8, np.float32)
    gamma[2] = 80.0  # an outlier channel
    h = g.add("layer_norm", [x, g.constant(gamma), g.constant(rng.standard_normal(8).astype(np.float32))]).output
    outs = [g.add("linear", [h, g.constant(rng.standard_normal((4, 8)).astype(np.float32))]).output for _ in range(2)]
    g.set_outputs(outs)
    before = clone(g)
    data = rng.standard_normal((16, 8)).astype(np.float32)
    manager = PassManager([SmoothQuant(alpha=0.5)])
    manager.run(g, PassContext(calibration=data))
    assert manager.history[0].stats == {"sites": 1, "folded_into_layer_norm": 1, "smoothing_muls": 0}
    (norm,) = [n for n in g.nodes if n.op == "layer_norm"]
    folded = g.const_value(norm.inputs[1])
    assert folded[2] / np.median(folded) < 80 / 4  # the outlier channel is flattened
    for got, want in zip(run_graph(g, [data]), run_graph(before, [data])):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
