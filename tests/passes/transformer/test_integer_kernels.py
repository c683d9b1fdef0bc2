"""transformer-recipe{integer=[softmax, gelu, layer_norm]} on an outlier-injected tiny
BERT: every attention softmax, GELU and LayerNorm runs as an I-BERT int32 kernel, the
pooled embedding stays at fp32 quality, Numba equals the reference bit for bit, and the
ONNX export refuses the kernels by name."""
import numpy as np
import pytest
import torch

import qcompiler
from qcompiler.backends.onnx import OnnxExportError, to_onnx
from qcompiler.passes.transformer.errors import TransformerRecipeError
from qcompiler.passes.transformer.recipe import TransformerRecipe
from qcompiler.runtime.reference import run_graph
from qcompiler.testing import transformer_models as tm

PIPELINE = ("fold-constants,canonicalize,fold-bn,fuse-activations,dce,"
            "transformer-recipe{integer=[softmax, gelu, layer_norm]},calibrate{method=mse},quantize,lower")


@pytest.fixture(scope="module")
def integer_bert():
    model = tm.inject_outlier_channels(tm.bert(seed=0))
    ids, mask = tm.padded_tokens(8, 16, seed=1)
    cm = qcompiler.compile(model, target="x86-vnni", calibration=[(ids.numpy(), mask.numpy())],
                           example_inputs=(ids, mask), progress=False, pipeline=PIPELINE)
    test = tuple(a.numpy() for a in tm.padded_tokens(8, 16, seed=100))
    with torch.no_grad():
        expected = model(*(torch.from_numpy(a) for a in test)).numpy()
    return cm, test, expected


def test_every_softmax_gelu_and_layer_norm_is_an_integer_kernel(integer_bert):
    cm, _, _ = integer_bert
    ops = [n.op for n in cm.graph.nodes]
    assert (ops.count("ibert_softmax"), ops.count("ibert_gelu"), ops.count("ibert_layer_norm")) == (2, 2, 5)
    assert not {"softmax", "masked_softmax", "gelu", "layer_norm", "qlut"} & set(ops)


def test_pooled_embedding_keeps_fp32_quality_and_numba_equals_the_reference(integer_bert):
    cm, test, expected = integer_bert
    got = cm(*test)
    (reference,) = run_graph(cm.graph, list(test))
    np.testing.assert_array_equal(got, reference)
    cosine = np.sum(got * expected, 1) / np.linalg.norm(got, axis=1) / np.linalg.norm(expected, axis=1)
    assert cosine.min() > 0.9995, cosine


def test_onnx_export_names_the_kernel(integer_bert):
    cm, _, _ = integer_bert
    with pytest.raises(OnnxExportError, match=r"ibert_\w+ \(an I-BERT integer kernel, chosen by transformer-recipe"):
        to_onnx(cm.graph, "qoperator")


def test_unknown_integer_kernel_is_refused():
    with pytest.raises(TransformerRecipeError, match="unknown softmx"):
        TransformerRecipe(integer=("softmx",))


def test_integer_option_spellings():
    from qcompiler.passmanager import parse_pipeline

    (one,) = parse_pipeline("transformer-recipe{integer=softmax}")
    (three,) = parse_pipeline("transformer-recipe{integer=[softmax, gelu, layer_norm]}")
    assert one.integer == ("softmax",) and three.integer == ("softmax", "gelu", "layer_norm")
    assert TransformerRecipe().integer == ()  # float softmax, GELU and LayerNorm by default
