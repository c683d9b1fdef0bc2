"""quantize-residual on the small CNN of quantize_graphs.py: layers are chosen by their
weight SQNR (or q.sens), the rewritten graph prints, parses back equal and verifies, and a
graph without float weights is refused by name."""
import pytest

from qcompiler.ir import graphs_equal, parse, print_graph
from qcompiler.ir.clone import clone
from qcompiler.ir.dense import Dense
from qcompiler.numerics.affine import dequantize
from qcompiler.numerics.sqnr import sqnr_db
from qcompiler.passmanager import PassError, PipelineError, run_pipeline

from quantize_graphs import quantized, small_cnn


@pytest.fixture(scope="module")
def int4_cnn():
    """small_cnn with i4 weights; the conv's weights get one outlier per channel, so one
    int4 tensor approximates them worse than the linear's."""
    g = small_cnn()
    w = g.find("w").producer
    array = w.attrs["value"].array.copy()
    array[:, 0, 0, 0] = 8.0
    w.attrs["value"] = Dense(array)
    return quantized(g, "calibrate,quantize{weights=i4}")


def single_sqnr(graph) -> dict:
    out = {}
    for node in graph.nodes:
        if node.op in ("conv2d", "linear"):
            w = node.inputs[1]
            single = dequantize(w.producer.attrs["value"].array, w.type)
            out[node.outputs[0].name] = sqnr_db(w.producer.meta["float_value"], single)
    return out


def with_float_weights(graph):
    """A clone that keeps quantize's float weights (clone leaves meta caches behind)."""
    g = clone(graph)
    for a, b in zip(graph.nodes, g.nodes):
        b.meta.update(a.meta)
    return g


def residual(graph, options: str, ctx):
    g = with_float_weights(graph)
    run_pipeline(g, f"quantize-residual{{{options}}}", ctx)
    return g


def chosen(graph) -> set:
    return {n.outputs[0].name for n in graph.nodes if n.attrs.get("q.residual_terms")}


def test_only_layers_below_the_threshold_become_residual(int4_cnn):
    graph, ctx = int4_cnn
    sqnr = single_sqnr(graph)
    assert sqnr["c"] < sqnr["y"] - 3, sqnr
    between = (sqnr["c"] + sqnr["y"]) / 2
    assert chosen(residual(graph, f"threshold={between}", ctx)) == {"c"}
    assert chosen(residual(graph, f"threshold={sqnr['y'] + 1}", ctx)) == {"c", "y"}
    assert chosen(residual(graph, f"threshold={sqnr['c'] - 1}", ctx)) == set()


def test_the_residual_weight_is_closer_and_computes_the_same_layer(int4_cnn):
    graph, ctx = int4_cnn
    g = residual(graph, "threshold=100", ctx)
    conv = g.find("c").producer
    w, x = conv.inputs[1], conv.inputs[0]
    assert w.type.group == 2 and w.type.axis == 1 and w.type.shape == (4, 4, 3, 3) and w.type.storage == "i4"
    assert x.producer.op == "concat" and x.type.shape[1] == 4
    stacked = dequantize(w.producer.attrs["value"].array, w.type)
    summed = stacked[:, :2] + stacked[:, 2:]  # the terms, as the product over the repeated input adds them
    float_w = w.producer.meta["float_value"]
    assert sqnr_db(float_w, summed) > single_sqnr(graph)["c"] + 15


def test_prints_parses_back_equal_and_verifies(int4_cnn):
    graph, ctx = int4_cnn
    g = residual(graph, "threshold=100", ctx)
    blobs = []
    text = print_graph(g, blobs)
    assert "q.residual_terms=2" in text and "group=2" in text
    again = parse(text, blobs)
    assert graphs_equal(again, g)
    assert print_graph(again, []) == text


def test_top_keeps_the_worst_layers(int4_cnn):
    graph, ctx = int4_cnn
    assert chosen(residual(graph, "top=1", ctx)) == {"c"}  # no default threshold with top
    assert chosen(residual(graph, "top=5", ctx)) == {"c", "y"}


def test_select_by_sensitivity_reads_q_sens(int4_cnn):
    graph, ctx = int4_cnn
    g = with_float_weights(graph)
    scores = {"c": 0.5, "y": 0.01}
    for node in g.nodes:
        if node.outputs and node.outputs[0].name in scores:
            node.attrs["q.sens"] = {"4": scores[node.outputs[0].name], "8": 0.0}
    run_pipeline(g, "quantize-residual{select=sensitivity, threshold=0.1}", ctx)
    assert chosen(g) == {"c"}


def test_select_by_sensitivity_without_scores_names_the_layer(int4_cnn):
    graph, ctx = int4_cnn
    with pytest.raises(PassError, match=r"'conv2d' \(%c\) has no q.sens; run sensitivity"):
        residual(graph, "select=sensitivity, threshold=0.1", ctx)


def test_a_graph_without_float_weights_is_refused(int4_cnn):
    graph, ctx = int4_cnn
    blobs = []
    reread = parse(print_graph(graph, blobs), blobs)  # the float weights were a cache: gone
    with pytest.raises(PassError, match=r"%c\)'s weight %w has no float values"):
        run_pipeline(reread, "quantize-residual", ctx)


@pytest.mark.parametrize("options, message", [("terms=1", "terms must be 2, 3 or 4"),
                                              ("bits=3", "bits=3"), ("select=hessian", "select='hessian'"),
                                              ("select=sensitivity", "needs threshold")])
def test_bad_options_are_named(options, message):
    with pytest.raises(PipelineError, match=message):
        run_pipeline(small_cnn(), f"quantize-residual{{{options}}}")
