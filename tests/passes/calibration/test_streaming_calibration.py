"""Streaming calibration: ranges do not depend on how batches are cut into memory-bound
chunks, match what the kept activations show, and batches may differ in spatial size."""
import numpy as np
import pytest

from qcompiler.ir.core import Graph
from qcompiler.ir.types import f32
from qcompiler.passes.calibration import METHODS, Calibrate
from qcompiler.passes.calibration.data import MemoryBoundBatches
from qcompiler.passmanager import PassContext
from qcompiler.runtime.reference import run_graph


def conv_model(height: int = 6) -> Graph:
    """x[N, 3, height, W] -> conv 3x3 (hardswish) -> depthwise 3x3 -> global average pool,
    with a free width W."""
    rng = np.random.default_rng(0)
    g = Graph("convw")
    x = g.add_input("x", f32("N", 3, height, "W"))
    w1 = g.constant(rng.normal(size=(4, 3, 3, 3)).astype(np.float32), name="w1", origin="c1.weight")
    b1 = g.constant(rng.normal(size=4).astype(np.float32), name="b1", origin="c1.bias")
    w2 = g.constant(rng.normal(size=(4, 1, 3, 3)).astype(np.float32), name="w2", origin="c2.weight")
    c1 = g.add("conv2d", [x, w1, b1], {"pad": [1, 1, 1, 1], "activation": "hardswish"}, name="c1").output
    c2 = g.add("conv2d", [c1, w2], {"pad": [1, 1, 1, 1], "groups": 4}, name="c2").output
    g.set_outputs([g.add("global_avg_pool", [c2], name="y").output])
    return g


def calibrate(graph: Graph, data, **options):
    result = Calibrate(**options).run(graph, PassContext(calibration=data))
    ranges = {n.output.name: n.attrs["q.range"] for n in graph.nodes if "q.range" in n.attrs and n.op != "const"}
    return {**ranges, "x": graph.input_attrs["x"]["q.range"]}, result.stats


def test_varying_widths_calibrate_to_the_range_of_all_kept_activations():
    rng = np.random.default_rng(1)
    batches = [rng.normal(size=(1, 3, 6, w)).astype(np.float32) for w in (5, 17, 9)]
    batches.append(rng.normal(size=(2, 3, 6, 12)).astype(np.float32))
    ranges, stats = calibrate(conv_model(), batches)
    assert stats["batches"] == 4
    kept = [run_graph(conv_model(), [b], keep=True)[1] for b in batches]
    for name, (lo, hi) in ranges.items():
        assert lo == pytest.approx(min(float(env[name].min()) for env in kept), rel=1e-6), name
        assert hi == pytest.approx(max(float(env[name].max()) for env in kept), rel=1e-6), name


@pytest.mark.parametrize("method", METHODS)
def test_memory_bound_chunks_give_the_same_ranges_as_one_batch(method):
    data = np.random.default_rng(2).normal(size=(12, 3, 32, 256)).astype(np.float32)
    whole, whole_stats = calibrate(conv_model(32), data, method=method, batch=12, batch_mb=64)
    chunked, chunked_stats = calibrate(conv_model(32), data, method=method, batch=12, batch_mb=1)
    assert whole_stats["chunks"] == 2  # a first sample alone, to learn its cost, then the rest
    assert chunked_stats["chunks"] >= 4  # about 0.4 MB of live activations a sample
    assert chunked == whole


def test_chunks_grow_to_the_budget_once_a_sample_cost_is_known():
    g = conv_model()
    chunks = MemoryBoundBatches(g, budget=1000)
    arrays = {"x": np.zeros((10, 3, 6, 4), np.float32)}
    first = next(chunks.split(arrays))
    assert first["x"].shape[0] == 1
    chunks.record(first, peak_bytes=300)
    assert [c["x"].shape[0] for c in chunks.split(arrays)] == [3, 3, 3, 1]
    chunks.record({"x": arrays["x"][:2]}, peak_bytes=1000)  # a costlier sample shrinks the chunks
    assert chunks.chunk == 2
