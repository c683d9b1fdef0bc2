"""Small graphs and helpers for the adaround tests."""
import numpy as np

from qcompiler.ir.core import Graph
from qcompiler.ir.types import f32
from qcompiler.passmanager import PassContext, PassManager


def small_conv(seed=0) -> Graph:
    """x[N,4,8,8] -> conv2d 3x3 (8 channels, bias)."""
    rng = np.random.default_rng(seed)
    g = Graph("conv")
    x = g.add_input("x", f32("N", 4, 8, 8))
    w = g.constant(rng.normal(size=(8, 4, 3, 3)).astype(np.float32) * 0.3, name="w", origin="conv.weight")
    b = g.constant(rng.normal(size=8).astype(np.float32) * 0.1, name="b", origin="conv.bias")
    g.set_outputs([g.add("conv2d", [x, w, b], {"pad": [1, 1, 1, 1]}, name="y").output])
    return g


def residual(seed=0) -> Graph:
    """x[N,4,6,6] -> conv -> relu -> conv -> add(x) -> conv: two convs up to the add, one after."""
    rng = np.random.default_rng(seed)
    g = Graph("residual")
    x = g.add_input("x", f32("N", 4, 6, 6))

    def conv(v, name):
        w = g.constant(rng.normal(size=(4, 4, 3, 3)).astype(np.float32) * 0.3, name=f"{name}_w")
        return g.add("conv2d", [v, w], {"pad": [1, 1, 1, 1]}, name=name).output

    a = conv(x, "a")
    r = g.add("relu", [a], name="r").output
    s = g.add("add", [conv(r, "b"), x], name="s").output
    g.set_outputs([conv(s, "c")])
    return g


def data(graph, n, seed) -> np.ndarray:
    """Image-like samples: smooth in space and correlated across channels. (On white noise
    the output error of a layer is the weights' squared error, which rounding to
    nearest already minimises: learned rounding has nothing to gain there.)"""
    rng = np.random.default_rng(seed)
    _, channels, h, w = graph.inputs[0].type.shape
    coarse = rng.normal(size=(n, channels, h // 2, w // 2))
    smooth = np.kron(coarse, np.ones((2, 2))) + 0.1 * rng.normal(size=(n, channels, h, w))
    mixing = np.eye(channels) + 0.5  # a shared component in every channel
    return np.einsum("dc,nchw->ndhw", mixing, smooth).astype(np.float32)


def run(graph, pipeline, calibration, **ctx_args):
    """Run `pipeline` in place; returns {pass name: stats} and the context."""
    ctx = PassContext(calibration=calibration, **ctx_args)
    manager = PassManager(pipeline)
    manager.run(graph, ctx)
    return {r.name: r.stats for r in manager.history}, ctx


def fixed_batch(batch=2, seed=0) -> Graph:
    """x[batch,4,4,4] -> conv -> reshape to [batch, 64] (the batch spelled out) -> linear."""
    rng = np.random.default_rng(seed)
    g = Graph("fixed")
    x = g.add_input("x", f32(batch, 4, 4, 4))
    w = g.constant(rng.normal(size=(4, 4, 3, 3)).astype(np.float32) * 0.3, name="w")
    c = g.add("conv2d", [x, w], {"pad": [1, 1, 1, 1]}, name="c").output
    shape = g.constant(np.array([batch, 64], np.int64), name="shape")
    flat = g.add("reshape", [c, shape], name="flat").output
    fw = g.constant(rng.normal(size=(3, 64)).astype(np.float32) * 0.1, name="fw")
    g.set_outputs([g.add("linear", [flat, fw], name="y").output])
    return g
