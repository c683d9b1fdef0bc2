"""prune: exact sparsity per layer and globally, by element and by channel; zeros survive
quantization; the size report."""
import numpy as np
import pytest

from compression_graphs import conv_mlp_graph
from qcompiler.ir import verify
from qcompiler.passes.compression.magnitude import pruned_count
from qcompiler.numerics.zero_runs import sparse_encoding_bytes
from qcompiler.passmanager import PassContext, PassManager, PipelineError, parse_pipeline

LAYERS = ("c1", "c2", "h", "y")


def run(graph, pipeline, **ctx_args):
    pm, ctx = PassManager(pipeline), PassContext(**ctx_args)
    pm.run(graph, ctx)
    verify(graph)
    return {r.name: r.stats for r in pm.history}, ctx


def weights(graph):
    return {name: graph.const_value(graph.find(name).producer.inputs[1]) for name in LAYERS}


@pytest.mark.parametrize("sparsity", [0.3, 0.5, 0.9])
def test_each_layer_loses_exactly_its_smallest_weights(sparsity):
    graph = conv_mlp_graph()
    before = weights(graph)
    stats, _ = run(graph, f"prune{{sparsity={sparsity}}}")
    for name, w in weights(graph).items():
        zeros = w == 0
        assert zeros.sum() == pruned_count(sparsity, w.size)
        assert np.abs(before[name][zeros]).max() <= np.abs(before[name][~zeros]).min()
        assert np.array_equal(w[~zeros], before[name][~zeros])
        assert graph.find(name).producer.attrs["q.sparsity"] == pytest.approx(zeros.mean())
        assert stats["prune"]["layers"][name]["sparse_bytes"] == sparse_encoding_bytes(w)


def test_global_scope_hits_the_model_sparsity_with_one_threshold():
    graph = conv_mlp_graph()
    before = weights(graph)
    run(graph, "prune{sparsity=0.6,scope=global}")
    after = weights(graph)
    total = sum(w.size for w in after.values())
    assert sum((w == 0).sum() for w in after.values()) == pruned_count(0.6, total)
    pruned = np.concatenate([np.abs(before[n][after[n] == 0]) for n in LAYERS])
    kept = np.concatenate([np.abs(before[n][after[n] != 0]) for n in LAYERS])
    assert pruned.max() <= kept.min()
    assert len({round(float((w == 0).mean()), 3) for w in after.values()}) > 1  # layers differ


@pytest.mark.parametrize("scope", ["layer", "global"])
def test_channel_pruning_zeroes_whole_output_channels(scope):
    graph = conv_mlp_graph()
    run(graph, f"prune{{sparsity=0.25,granularity=channel,scope={scope}}}")
    rows = {n: w.reshape(w.shape[0], -1) for n, w in weights(graph).items()}
    dead = {n: np.all(r == 0, axis=1) for n, r in rows.items()}
    for n, r in rows.items():
        assert np.all(np.all(r != 0, axis=1) | dead[n])  # a channel is whole or gone
        assert graph.find(n).producer.attrs["q.sparsity"] == pytest.approx(dead[n].mean())
    if scope == "layer":
        assert all(d.sum() == pruned_count(0.25, d.size) for d in dead.values())
    else:
        assert sum(d.sum() for d in dead.values()) == pruned_count(0.25, sum(d.size for d in dead.values()))


def test_pruning_is_idempotent_and_zero_sparsity_changes_nothing():
    graph = conv_mlp_graph()
    stats, _ = run(graph, "prune{sparsity=0.0}")
    assert stats["prune"]["layers"]["h"]["sparsity"] == 0.0
    first = weights(graph)
    run(graph, "prune{sparsity=0.5}")
    once = weights(graph)
    stats, _ = run(graph, "prune{sparsity=0.5}")
    assert all(np.array_equal(once[n], w) for n, w in weights(graph).items())
    assert not all(np.array_equal(first[n], once[n]) for n in LAYERS)


def test_zeros_stay_zero_through_calibrate_and_quantize():
    graph = conv_mlp_graph()
    run(graph, "prune{sparsity=0.7}")
    zeros = {n: w == 0 for n, w in weights(graph).items()}
    x = np.random.default_rng(0).standard_normal((16, 3, 8, 8)).astype(np.float32)
    run(graph, "calibrate,quantize{weights=i4}", calibration=x)
    for n, stored in weights(graph).items():
        assert np.all(stored[zeros[n]] == 0)
        assert sparse_encoding_bytes(stored, value_bits=4) < stored.size * 4 / 8


def test_a_layer_losing_every_channel_is_warned_about():
    graph = conv_mlp_graph()
    w = graph.find("fc2").producer
    w.attrs["value"] = type(w.attrs["value"])(w.attrs["value"].array * 1e-3)
    # round(0.14 · 74 channels) = 10: exactly the ten channels of fc2, now the smallest
    _, ctx = run(graph, "prune{sparsity=0.14,granularity=channel,scope=global}")
    assert [d.node for d in ctx.diagnostics if d.severity == "warning"] == ["y"]


def test_bad_options_are_named():
    for bad, message in (("prune{sparsity=1.5}", "sparsity=1.5"), ("prune{granularity=row}", "granularity='row'"),
                         ("prune{scope=net}", "scope='net'")):
        with pytest.raises(PipelineError, match=message):
            parse_pipeline(bad)
