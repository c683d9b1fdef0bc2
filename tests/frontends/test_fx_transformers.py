"""Transformer encoders through the torch frontend, in float: transformers BERT (masked-mean
pooled, padded attention masks), DistilBERT, ViT and torch.nn.TransformerEncoder with
src_key_padding_mask, each captured by fx symbolic tracing and by torch.export, with
static shapes and with dynamic batch and sequence dims, equal to torch within 1e-5
relative on both executors."""
from __future__ import annotations

import functools

import pytest
import torch
from fx_helpers import assert_faithful

from qcompiler.frontends.fx import import_module
from qcompiler.runtime.torch import run_torch
from qcompiler.testing import transformer_models as tm

pytest.importorskip("transformers")

TEXT_DIMS = {"input_ids": {0: "N", 1: "S"}, "attention_mask": {0: "N", 1: "S"}}

# name -> (builder, example inputs, inputs of another batch and length, dynamic_dims)
MODELS = {
    "bert": (tm.bert, lambda: tm.padded_tokens(4, 16), lambda: tm.padded_tokens(3, 11, seed=1), TEXT_DIMS),
    "distilbert": (tm.distilbert, lambda: tm.padded_tokens(4, 16), lambda: tm.padded_tokens(5, 9, seed=2),
                   TEXT_DIMS),
    "torch_encoder": (tm.torch_encoder, lambda: tm.padded_tokens(4, 16), lambda: tm.padded_tokens(2, 21, seed=3),
                      TEXT_DIMS),
    # the position table fixes the image size; the batch is dynamic
    "vit": (tm.vit, lambda: (tm.images(2),), lambda: (tm.images(3, seed=1),), {"pixel_values": {0: "N"}}),
}


@functools.lru_cache(maxsize=None)
def model(name: str) -> torch.nn.Module:
    return MODELS[name][0]()


@functools.lru_cache(maxsize=None)
def imported(name: str, capture: str, dynamic: bool):
    _, examples, _, dims = MODELS[name]
    return import_module(model(name), examples(), capture=capture, dynamic_dims=dims if dynamic else None)


@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic"])
@pytest.mark.parametrize("capture", ["fx", "export"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_encoder_import_equals_torch(name, capture, dynamic):
    _, examples, others, dims = MODELS[name]
    m, inputs, graph = model(name), examples(), imported(name, capture, dynamic)
    assert graph.meta["captured_by"] == ("fx" if capture == "fx" else "torch.export")
    assert_faithful(graph, m, inputs, tol=1e-5)
    if dynamic:
        assert [tuple(v.type.shape) for v in graph.inputs] == [
            tuple(dims[arg].get(a, n) for a, n in enumerate(x.shape)) for arg, x in zip(dims, inputs)]
        assert_faithful(graph, m, others(), tol=1e-5)
        # the sequence symbol survives arange/slices/views: no unknown dims in the stream
        stream = {tuple(n.outputs[0].type.shape) for n in graph.nodes if n.op in ("layer_norm", "softmax")}
        assert stream and not any("?" in shape for shape in stream), stream


def test_eager_attention_bert():
    """transformers' eager attention adds a finfo.min mask built from the mask's dtype, which
    fx must read as a value (torch.export records the number)."""
    m = tm.bert(attn="eager")
    graph = import_module(m, tm.padded_tokens(4, 16), capture="fx", dynamic_dims=TEXT_DIMS)
    assert_faithful(graph, m, tm.padded_tokens(4, 16), tol=1e-5)
    assert_faithful(graph, m, tm.padded_tokens(2, 7, seed=5), tol=1e-5)


@pytest.mark.parametrize("capture", ["fx", "export"])
def test_unpadded_example_still_masks(capture):
    """An example without padding must not bake the mask away (transformers skips an all-ones
    mask when it can see it)."""
    m, (ids, _) = model("bert"), tm.padded_tokens(4, 16)
    graph = import_module(m, (ids, torch.ones_like(ids)), capture=capture)
    assert_faithful(graph, m, tm.padded_tokens(4, 16, seed=7), tol=1e-5)


def test_length_one_example_imports_every_length():
    """transformers skips the mask of a length-1 query: the trace must not keep that skip."""
    m = model("bert")
    graph = import_module(m, tm.padded_tokens(2, 1), capture="fx", dynamic_dims=TEXT_DIMS)
    assert_faithful(graph, m, tm.padded_tokens(3, 9, seed=3), tol=1e-5)


def test_padding_changes_nothing_but_the_padded_positions():
    """The import honours the mask: padding a batch further leaves its pooled embeddings."""
    graph = imported("bert", "export", True)
    ids, mask = tm.padded_tokens(3, 8, seed=4)
    pad = torch.zeros(3, 5, dtype=ids.dtype)
    longer = (torch.cat([ids, pad], 1), torch.cat([mask, pad], 1))
    short, padded = (run_torch(graph, [x.numpy() for x in xs])[0] for xs in ((ids, mask), longer))
    assert abs(short - padded).max() < 1e-5 * abs(short).max()
