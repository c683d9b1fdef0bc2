"""Channel pruning before retraining: prune{keep_outputs=true} leaves the layer whose
result is a graph output (a classifier: its output channels are the classes) dense and
prunes the others as before; without it the classifier loses classes, with a warning
naming the layer and the option."""
import numpy as np
import pytest

from compression_graphs import conv_mlp_graph
from qcompiler.passmanager import PassContext, PassManager

LAYERS = ("c1", "c2", "h", "y")


def pruned(keep_outputs: bool, scope: str) -> tuple:
    graph, ctx = conv_mlp_graph(), PassContext()
    pipeline = f"prune{{sparsity=0.5,granularity=channel,scope={scope},keep_outputs={str(keep_outputs).lower()}}}"
    PassManager(pipeline).run(graph, ctx)
    return graph, [d for d in ctx.diagnostics if d.severity == "warning"]


def dead_channels(keep_outputs: bool, scope: str) -> dict:
    graph, _ = pruned(keep_outputs, scope)
    rows = {n: graph.const_value(graph.find(n).producer.inputs[1]) for n in LAYERS}
    return {n: int(np.all(w.reshape(w.shape[0], -1) == 0, axis=1).sum()) for n, w in rows.items()}


def test_pruning_a_classifiers_channels_is_warned_about_by_name():
    _, warnings = pruned(False, "layer")
    assert [d.node for d in warnings] == ["y"]
    assert "5 of 10 output channels" in warnings[0].message and "keep_outputs=true" in warnings[0].message
    assert pruned(True, "layer")[1] == []


@pytest.mark.parametrize("scope", ["layer", "global"])
def test_keep_outputs_leaves_the_classifier_whole(scope):
    kept = dead_channels(True, scope)
    assert kept["y"] == 0 and sum(kept[n] for n in ("c1", "c2", "h")) > 0
    if scope == "layer":
        assert dead_channels(False, scope)["y"] == 5  # half the classes gone


def test_the_hidden_layers_lose_half_their_channels_per_layer_either_way():
    kept, pruned = dead_channels(True, "layer"), dead_channels(False, "layer")
    assert {n: kept[n] for n in ("c1", "c2", "h")} == {n: pruned[n] for n in ("c1", "c2", "h")} == \
        {"c1": 8, "c2": 8, "h": 16}
