"""Float networks taken through calibrate, quantize and lower for the executor tests,
and the per-value comparison with the reference interpreter."""
import numpy as np

import qcompiler.passes.lowering  # noqa: F401  (registers `lower`)
import qcompiler.passes.quantize  # noqa: F401  (registers `quantize`)
from qcompiler.ir import Graph, verify
from qcompiler.ir.types import f32
from qcompiler.passmanager import PassContext, run_pipeline

RNG = np.random.default_rng(7)


def normal(*shape, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def conv_relu_pool_linear() -> Graph:
    g = Graph("net")
    x = g.add_input("x", f32("N", 3, 10, 10))
    c = g.add("conv2d", [x, g.constant(normal(8, 3, 3, 3, scale=0.3), name="w1"), g.constant(normal(8, scale=0.1))],
              {"pad": [1, 1, 1, 1]}, name="conv").output
    r = g.add("relu", [c], name="relu").output
    p = g.add("avg_pool2d", [r], {"kernel": [2, 2]}, name="pool").output
    f = g.add("flatten", [p], name="flat").output
    y = g.add("linear", [f, g.constant(normal(10, 200, scale=0.05), name="w2"), g.constant(normal(10))],
              name="fc").output
    g.set_outputs([y])
    return g


def residual_net() -> Graph:
    """Depthwise/strided/dilated convs, a residual add, max pool, a LUT activation, a
    global pool, and a float softmax at the end."""
    g = Graph("resnet")
    x = g.add_input("x", f32("N", 4, 12, 12))
    stem = g.add("conv2d", [x, g.constant(normal(8, 4, 3, 3, scale=0.3))], {"pad": [1, 1, 1, 1]}, name="stem").output
    stem = g.add("relu", [stem], name="stem_relu").output
    dw = g.add("conv2d", [stem, g.constant(normal(8, 1, 3, 3, scale=0.4)), g.constant(normal(8, scale=0.1))],
               {"pad": [2, 2, 2, 2], "dilation": [2, 2], "groups": 8}, name="dw").output
    added = g.add("add", [stem, dw], name="res").output
    act = g.add("hardswish", [added], name="act").output
    pooled = g.add("max_pool2d", [act], {"kernel": [2, 2]}, name="maxpool").output
    down = g.add("conv2d", [pooled, g.constant(normal(16, 8, 3, 3, scale=0.2))], {"stride": [2, 2], "pad": [1, 1, 1, 1]},
                 name="down").output
    gap = g.add("global_avg_pool", [down], name="gap").output
    flat = g.add("flatten", [gap], name="flat").output
    logits = g.add("linear", [flat, g.constant(normal(5, 16, scale=0.3))], name="fc").output
    g.set_outputs([g.add("softmax", [logits], name="prob").output])
    return g


def lowered(build, target="generic", options="", samples=16) -> Graph:
    graph = build()
    shape = [samples if isinstance(d, str) else d for d in graph.inputs[0].type.shape]
    quantize = f"quantize{{{options}}}" if options else "quantize"
    run_pipeline(graph, f"calibrate,{quantize},lower", PassContext(target=target, calibration=normal(*shape)))
    verify(graph)
    return graph


def assert_same_storage(graph, got: dict, want: dict, float_rtol: float = 0.0, float_atol: float = 0.0) -> None:
    """Every value equal (float values within the tolerances, exact by default); otherwise one
    line per differing layer with its off-by-one count."""
    lines = []
    for node in graph.nodes:
        for v in node.outputs:
            a, b = np.asarray(got[v.name]), np.asarray(want[v.name])
            if a.shape != b.shape:
                lines.append(f"%{v.name} ({node.op}): shape {a.shape} != reference {b.shape}")
                continue
            if a.dtype.kind == "f" or b.dtype.kind == "f":
                if not np.allclose(a, b, rtol=float_rtol, atol=float_atol, equal_nan=True):
                    lines.append(f"%{v.name} ({node.op}): float values differ")
                continue
            diff = np.abs(a.astype(np.int64) - b.astype(np.int64))
            if diff.any():
                lines.append(f"%{v.name} ({node.op}): {np.count_nonzero(diff == 1)} off by one, "
                             f"{np.count_nonzero(diff > 1)} off by more (max {diff.max()}) of {diff.size}")
    assert not lines, "Numba storage differs from the reference:\n" + "\n".join(lines)
