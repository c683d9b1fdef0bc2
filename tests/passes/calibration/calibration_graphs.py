"""Small hand-built graphs for the calibration tests."""
import numpy as np

from qcompiler.ir.core import Graph
from qcompiler.ir.types import f32


def mlp(batch="N", seed=0) -> Graph:
    """x -> linear(w1, b1) -> relu -> linear(w2) -> y, with constant weights."""
    rng = np.random.default_rng(seed)
    g = Graph("mlp")
    x = g.add_input("x", f32(batch, 4))
    w1 = g.constant(rng.normal(size=(5, 4)).astype(np.float32), name="w1", origin="fc1.weight")
    b1 = g.constant(rng.normal(size=5).astype(np.float32), name="b1", origin="fc1.bias")
    w2 = g.constant(rng.normal(size=(3, 5)).astype(np.float32), name="w2", origin="fc2.weight")
    h = g.add("linear", [x, w1, b1], name="h").output
    r = g.add("relu", [h], name="r").output
    y = g.add("linear", [r, w2], name="y").output
    g.set_outputs([y])
    return g
