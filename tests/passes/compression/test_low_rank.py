"""low-rank: exact at full rank, Eckart–Young error at a given energy, fewer parameters,
per-node ranks, skipped layers, trainable factors."""
import numpy as np
import pytest

from compression_graphs import conv_mlp_graph, linear_graph, spectrum_matrix, weight_sizes
from qcompiler.ir import verify
from qcompiler.passes.compression.factorization import factorize, rank_for_energy
from qcompiler.passmanager import PassContext, PassError, PassManager, PipelineError, parse_pipeline
from qcompiler.runtime.reference import run_graph
from qcompiler.runtime.torch import to_torch


def run(graph, pipeline):
    pm, ctx = PassManager(pipeline), PassContext()
    pm.run(graph, ctx)
    verify(graph)
    return pm.history[-1].stats, ctx


def test_rank_for_energy_is_the_smallest_rank_keeping_the_energy():
    s = np.array([3.0, 2.0, 1.0])  # energies 9/14, 13/14, 1
    assert [rank_for_energy(s, e) for e in (0.5, 9 / 14, 0.9, 0.95, 1.0)] == [1, 1, 2, 3, 3]
    assert rank_for_energy(np.zeros(3), 0.9) == 1


def test_factors_multiply_back_to_the_truncated_matrix():
    w = spectrum_matrix(12, 20, 0.7)
    f = factorize(w, 5)
    u, s, vt = np.linalg.svd(w, full_matrices=False)
    np.testing.assert_allclose(f.second @ f.first, (u[:, :5] * s[:5]) @ vt[:5], atol=1e-12)
    assert f.energy == pytest.approx(np.sum(s[:5] ** 2) / np.sum(s ** 2))


def test_full_rank_keeps_every_output():
    graph = conv_mlp_graph()
    x = np.random.default_rng(1).standard_normal((4, 3, 8, 8)).astype(np.float32)
    before = run_graph(graph, [x])[0]
    stats, _ = run(graph, "low-rank{energy=1.0,min_saving=-10.0}")
    assert stats["factored"] == 4 and graph.op_counts()["conv2d"] == 4 and graph.op_counts()["linear"] == 4
    np.testing.assert_allclose(run_graph(graph, [x])[0], before, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("energy", [0.8, 0.9, 0.97])
def test_linear_error_is_the_dropped_energy(energy):
    w = spectrum_matrix(64, 48, 0.85)
    graph = linear_graph(w)
    x = np.random.default_rng(2).standard_normal((4096, 48)).astype(np.float32)
    before = run_graph(graph, [x])[0]
    stats, _ = run(graph, f"low-rank{{energy={energy}}}")
    kept = stats["layers"]["y"]["energy"]
    assert energy <= kept < energy + 0.05
    # E‖(W − W_r)x‖² = ‖W − W_r‖²_F for x ~ N(0, I):
    # relative error sqrt(1 − kept) ≤ sqrt(1 − energy)
    bias = graph.const_value(graph.find("b"))
    error = np.linalg.norm(run_graph(graph, [x])[0] - before) / np.linalg.norm(before - bias)
    assert error == pytest.approx(np.sqrt(1 - kept), rel=0.05)
    assert error <= np.sqrt(1 - energy) * 1.05


def test_parameters_shrink_by_the_reported_saving():
    graph = conv_mlp_graph()
    before = weight_sizes(graph)
    stats, _ = run(graph, "low-rank{energy=0.8}")
    assert stats["factored"] >= 2
    assert stats["params_after"] < stats["params_before"]
    assert weight_sizes(graph) == before - stats["params_before"] + stats["params_after"]
    for layer in stats["layers"].values():
        assert layer["saving"] >= 0.1


def test_q_rank_overrides_the_option_and_the_rank_option_overrides_energy():
    graph = linear_graph(spectrum_matrix(32, 32, 0.9))
    graph.find("y").producer.attrs["q.rank"] = 3
    stats, _ = run(graph, "low-rank{rank=5}")
    assert stats["layers"]["y"]["rank"] == 3
    assert graph.find("w.v").type.shape == (3, 32) and graph.find("w.u").type.shape == (32, 3)
    assert graph.find("y").producer.attrs["q.rank"] == 3
    graph = linear_graph(spectrum_matrix(32, 32, 0.9))
    assert run(graph, "low-rank{rank=5}")[0]["layers"]["y"]["rank"] == 5


def test_small_saving_grouped_and_shared_weights_are_left_with_notes():
    graph = conv_mlp_graph()
    conv2 = graph.find("c2").producer
    conv2.attrs["groups"] = 2
    w = graph.find("conv2")
    conv2.set_input(1, graph.constant(graph.const_value(w)[:, :8], name="grouped"))
    graph.erase(w.producer)
    fc2 = graph.find("y").producer
    graph.add("linear", [graph.find("h"), fc2.inputs[1]], name="y2", before=fc2)
    graph.set_outputs([graph.find("y"), graph.find("y2")])
    graph.find("c1").producer.attrs["q.rank"] = 16
    stats, ctx = run(graph, "low-rank{rank=4}")
    notes = {d.node: d.message for d in ctx.diagnostics}
    assert "grouped conv" in notes["c2"] and "shared" in notes["y"] and "below min_saving" in notes["c1"]
    assert set(stats["layers"]) == {"h"}


def test_factors_keep_origins_and_train_in_the_torch_executor():
    graph = linear_graph(spectrum_matrix(16, 24, 0.8))
    run(graph, "low-rank{rank=4}")
    assert graph.find("w.u").producer.attrs["origin"] == "fc.weight.u"
    params = dict(to_torch(graph).named_parameters())
    assert {"fc_weight_u", "fc_weight_v", "fc_bias"} <= set(params)


def test_bad_ranks_and_options_are_named():
    graph = linear_graph(spectrum_matrix(8, 8, 0.9))
    graph.find("y").producer.attrs["q.rank"] = 0
    with pytest.raises(PassError, match=r"q.rank = 0 is not a positive integer rank"):
        run(graph, "low-rank")
    for bad, message in (("low-rank{energy=1.5}", "energy=1.5"), ("low-rank{rank=0}", "rank=0"),
                         ("low-rank{min_saving=1}", "min_saving=1")):
        with pytest.raises(PipelineError, match=message):
            parse_pipeline(bad)
