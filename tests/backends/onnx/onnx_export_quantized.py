"""Quantized graphs for the export tests, made by the real passes: the digits CNN and a
small net that reaches every lowered op (products with per-channel weights, a fused
hardswish through a 16-bit intermediate and a table, qadd, qmul, average pools, a
requantized concat, a sigmoid table, an activation x activation matmul, a float softmax
between dequantize and quantize). Plus the storage comparison with the reference."""
from __future__ import annotations

import functools

import numpy as np
import torch

import qcompiler.passes.calibration  # noqa: F401  (registers the passes used below)
import qcompiler.passes.fusion  # noqa: F401
import qcompiler.passes.lowering  # noqa: F401
import qcompiler.passes.quantize  # noqa: F401
from qcompiler.frontends.fx import import_module
from qcompiler.ir import Graph, verify
from qcompiler.ir.types import QuantType, f32
from qcompiler.numerics.affine import quantize
from qcompiler.passmanager import PassContext, run_pipeline
from qcompiler.runtime.reference import run_graph
from qcompiler.testing import zoo
from qcompiler.testing.cpu import has_vnni  # noqa: F401  (re-exported to the tests here)

RNG = np.random.default_rng(11)


def normal(*shape, scale=1.0) -> np.ndarray:
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


@functools.lru_cache(maxsize=1)
def digits():
    """(trained digits CNN, calibration images, test images) as numpy."""
    torch.set_num_threads(1)
    x_train, _, x_test, _ = zoo.digits_data()
    return zoo.train_digits_cnn(epochs=2), x_train[:128].numpy(), x_test[:64].numpy()


def digits_graph(target: str, lower: bool, quantize_options: str = "") -> Graph:
    model, calibration, test = digits()
    graph = import_module(model, (torch.from_numpy(test[:8]),), dynamic_batch=True)
    q = f"quantize{{{quantize_options}}}" if quantize_options else "quantize"
    pipeline = f"fold-bn,fuse-activations,calibrate,{q}" + (",lower" if lower else "")
    run_pipeline(graph, pipeline, PassContext(target=target, calibration=calibration))
    verify(graph)
    return graph


def mixed_net() -> Graph:
    g = Graph("mixed")
    x = g.add_input("x", f32("N", 4, 8, 8))
    c1 = g.add("conv2d", [x, g.constant(normal(8, 4, 3, 3, scale=0.3), origin="conv1.weight"),
                         g.constant(normal(8, scale=0.1))], {"pad": [1, 1, 1, 1]}, name="c1").output
    a1 = g.add("hardswish", [c1], name="a1").output
    c2 = g.add("conv2d", [x, g.constant(normal(8, 4, 3, 3, scale=0.3))], {"pad": [1, 1, 1, 1]}, name="c2").output
    r2 = g.add("relu6", [c2], name="r2").output
    m = g.add("mul", [a1, r2], name="m").output
    s = g.add("add", [m, a1], name="s").output
    p = g.add("avg_pool2d", [s], {"kernel": [2, 2]}, name="p").output
    q = g.add("max_pool2d", [r2], {"kernel": [2, 2]}, name="q").output
    cat = g.add("concat", [p, q], {"axis": 1}, name="cat").output
    sig = g.add("sigmoid", [cat], name="sig").output
    rows = g.add("reshape", [sig, g.constant(np.array([0, 16, 16], np.int64))], name="rows").output
    cols = g.add("transpose", [rows], {"perm": [0, 2, 1]}, name="cols").output
    gram = g.add("matmul", [rows, cols], name="gram").output
    gap = g.add("flatten", [g.add("global_avg_pool", [cat], name="gap").output], name="flat").output
    logits = g.add("linear", [gap, g.constant(normal(5, 16, scale=0.3), origin="fc.weight")], name="fc").output
    g.set_outputs([g.add("softmax", [logits], name="prob").output, gram])
    return g


def mixed_graph(target: str, lower: bool, quantize_options: str = "") -> Graph:
    graph = mixed_net()
    q = f"quantize{{{quantize_options}}}" if quantize_options else "quantize"
    pipeline = f"fuse-activations,calibrate,{q}" + (",lower" if lower else "")
    run_pipeline(graph, pipeline, PassContext(target=target, calibration=normal(32, 4, 8, 8)))
    verify(graph)
    return graph


def quantized_values(graph: Graph) -> list:
    return [v for n in graph.nodes if n.op != "const" for v in n.outputs if isinstance(v.type, QuantType)]


def reference_storage(graph: Graph, feeds) -> tuple:
    """(outputs, {value name: storage integers}) from the reference interpreter."""
    outputs, env = run_graph(graph, feeds, keep=True)
    return outputs, {v.name: quantize(env[v.name], v.type).astype(np.int64) for v in quantized_values(graph)}

