"""transformer-recipe{embedding_sqnr}: the recipe gives the vocabulary lookup its SQNR floor
(`q.embedding_sqnr`), quantize narrows that table to the fewest bits meeting it, and
quantize's own embedding_sqnr overrides it; `none` keeps 8 bits. The narrowed rows' clip
search weights each channel by the gamma² of the LayerNorm the embedding sum feeds."""
import numpy as np
import pytest

from qcompiler.ir.core import Graph
from qcompiler.ir.types import TensorType
from qcompiler.numerics.affine import dequantize
from qcompiler.numerics.sqnr import sqnr_db
from qcompiler.passes.quantize.embedding import (EMBEDDING_SQNR, mse_row_scales, norm_channel_weights,
                                                 quantize_embedding_tables)
from qcompiler.passes.quantize.errors import QuantizeError
from qcompiler.passes.transformer.errors import TransformerRecipeError
from qcompiler.passes.transformer.recipe import TransformerRecipe
from qcompiler.passmanager import PassContext

VOCAB, HIDDEN = 16384, 64  # 2^20 values: a vocabulary, narrowed


def encoder(gamma=None) -> tuple:
    """ids -> word table gather + position -> LayerNorm(gamma) -> one attention block ->
    LayerNorm; (graph, table value)."""
    rng = np.random.default_rng(0)
    g = Graph("tiny")
    ids = g.add_input("ids", TensorType("i64", ("N", 4)))
    table = g.constant(rng.standard_normal((VOCAB, HIDDEN)).astype(np.float32), origin="word_embeddings")
    words = g.add("gather", [table, ids], {"axis": 0}).output
    summed = g.add("add", [words, g.constant(rng.standard_normal((4, HIDDEN)).astype(np.float32))]).output
    e = g.add("layer_norm", [summed] + ([] if gamma is None else [g.constant(gamma)]), {"axis": -1}).output
    h = g.add("linear", [e, g.constant(rng.standard_normal((HIDDEN, HIDDEN)).astype(np.float32))]).output
    s = g.add("matmul", [h, g.add("transpose", [h], {"perm": [0, 2, 1]}).output]).output
    c = g.add("matmul", [g.add("softmax", [s], {"axis": -1}).output, h]).output
    g.set_outputs([g.add("layer_norm", [g.add("add", [e, c]).output], {"axis": -1}).output])
    return g, table


def lookup(graph):
    return next(n for n in graph.nodes if n.op == "gather")


def test_recipe_floor_narrows_the_vocabulary_and_quantize_overrides_it():
    graph, table = encoder()
    TransformerRecipe(smooth=False, embedding_sqnr=30.0).run(graph, PassContext())
    assert lookup(graph).attrs[EMBEDDING_SQNR] == 30.0
    original = graph.const_value(table).copy()
    quantize_embedding_tables(graph)
    bits = table.producer.attrs["q.row_bits"]
    assert bits < 8
    assert sqnr_db(original, dequantize(graph.const_value(table), table.type)) >= 30.0
    wider, wider_table = encoder()
    TransformerRecipe(smooth=False, embedding_sqnr=30.0).run(wider, PassContext())
    quantize_embedding_tables(wider, min_sqnr=36.0)  # quantize{embedding_sqnr=36} wins
    assert wider_table.producer.attrs["q.row_bits"] > bits


def test_none_keeps_eight_bits():
    graph, table = encoder()
    TransformerRecipe(smooth=False, embedding_sqnr=None).run(graph, PassContext())
    assert EMBEDDING_SQNR not in lookup(graph).attrs
    quantize_embedding_tables(graph)
    assert "q.row_bits" not in table.producer.attrs
    assert np.abs(graph.const_value(table)).max() == 127


def test_bad_floors_are_refused():
    with pytest.raises(TransformerRecipeError, match="embedding_sqnr=0.0"):
        TransformerRecipe(embedding_sqnr=0.0)
    graph, _ = encoder()
    lookup(graph).attrs[EMBEDDING_SQNR] = "high"
    with pytest.raises(QuantizeError, match="q.embedding_sqnr = 'high'"):
        quantize_embedding_tables(graph)


def test_clip_search_weights_the_channels_by_the_next_layer_norms_gamma():
    gamma = np.ones(HIDDEN, np.float32)
    gamma[[3, 17]] = 60.0
    graph, table = encoder(gamma)
    weights = norm_channel_weights(graph, lookup(graph))
    np.testing.assert_array_equal(weights, np.square(gamma.astype(np.float64)))
    original = graph.const_value(table).copy()
    TransformerRecipe(smooth=False, embedding_sqnr=30.0).run(graph, PassContext())
    quantize_embedding_tables(graph)
    assert table.producer.attrs["q.row_bits"] == 6

    def weighted_error(scales):
        rounded = np.clip(np.rint(original / scales[:, None]), -31, 31) * scales[:, None]
        return float((np.square(rounded - original) @ weights).sum())
    chosen, unweighted = table.type.scale.array, mse_row_scales(original, 6)
    assert weighted_error(chosen) < 0.5 * weighted_error(unweighted)  # 0.2 here
    assert norm_channel_weights(encoder()[0], lookup(encoder()[0])) is None  # no gamma: unweighted
