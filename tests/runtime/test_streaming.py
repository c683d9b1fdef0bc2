"""The reference interpreter streams: each value goes to the callback as it is produced
and is freed after its last reader, so a deep chain holds a bounded number of arrays."""
import weakref

import numpy as np

from qcompiler.ir.core import Graph
from qcompiler.ir.types import f32
from qcompiler.runtime.reference import release_plan, run_graph, stream_graph

DEPTH = 40


def chain(depth: int = DEPTH) -> Graph:
    """x -> (relu, neg) alternating `depth` times, with a skip from x to the final add
    (so x lives to the end) and a dead branch (read by nobody)."""
    g = Graph("chain")
    x = g.add_input("x", f32("N", 256))
    v = x
    for i in range(depth):
        v = g.add("relu" if i % 2 else "neg", [v], name=f"v{i}").output
    g.add("exp", [x], name="dead")
    g.set_outputs([g.add("add", [v, x], name="y").output])
    return g


def test_a_chain_holds_a_bounded_number_of_arrays_alive():
    g = chain()
    alive, most = [], 0

    def observe(value, array):
        nonlocal most
        alive.append(weakref.ref(array))
        most = max(most, sum(r() is not None for r in alive))

    x = np.random.default_rng(0).normal(size=(8, 256)).astype(np.float32)
    result = stream_graph(g, [x], observe)
    assert len(alive) == DEPTH + 3  # x, the chain, the dead branch, y
    # x (kept for the skip), the operand of the running node and its result: 3, never the chain
    assert most <= 3, most
    assert result.peak_bytes <= 3 * x.nbytes
    expected = x
    for i in range(DEPTH):
        expected = np.maximum(expected, 0) if i % 2 else -expected
    np.testing.assert_array_equal(result.outputs[0], expected + x)


def test_keep_still_returns_every_value_and_the_same_outputs():
    g = chain(6)
    x = np.random.default_rng(1).normal(size=(3, 256)).astype(np.float32)
    outputs, values = run_graph(g, [x], keep=True)
    assert set(values) == {"x", "dead", "y"} | {f"v{i}" for i in range(6)}
    np.testing.assert_array_equal(values["v0"], -x)
    np.testing.assert_array_equal(values["dead"], np.exp(x))
    np.testing.assert_array_equal(outputs[0], run_graph(g, [x])[0])


def test_release_plan_frees_each_value_once_after_its_last_reader_and_never_an_output():
    g = chain(4)
    plan = release_plan(g)
    freed = [v.name for slot in plan for v in slot]
    assert sorted(freed) == sorted(["x", "v0", "v1", "v2", "v3", "dead"])
    order = [n.output.name for n in g.nodes]
    at = {v.name: i for i, slot in enumerate(plan[:-1]) for v in slot}
    assert at["x"] == order.index("y") and at["v0"] == order.index("v1") and at["dead"] == order.index("dead")
