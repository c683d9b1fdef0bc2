"""Small hand-built graphs and helpers for the quantization tests."""
import numpy as np

from qcompiler.ir.core import Graph
from qcompiler.ir.types import QuantType, f32
from qcompiler.ir.verifier import verify
from qcompiler.passmanager import PassContext, run_pipeline


def small_cnn(seed=0) -> Graph:
    """x[N,2,6,6] -> conv2d -> relu -> max_pool2d -> flatten -> linear -> softmax."""
    rng = np.random.default_rng(seed)
    g = Graph("cnn")
    x = g.add_input("x", f32("N", 2, 6, 6))
    w = g.constant(rng.normal(size=(4, 2, 3, 3)).astype(np.float32), name="w", origin="conv.weight")
    b = g.constant(rng.normal(size=4).astype(np.float32), name="b", origin="conv.bias")
    c = g.add("conv2d", [x, w, b], {"pad": [1, 1, 1, 1]}, name="c").output
    r = g.add("relu", [c], name="r").output
    p = g.add("max_pool2d", [r], {"kernel": [2, 2], "stride": [2, 2]}, name="p").output
    f = g.add("flatten", [p], name="f").output
    fw = g.constant(rng.normal(size=(5, 36)).astype(np.float32) * 0.3, name="fw", origin="fc.weight")
    y = g.add("linear", [f, fw], name="y").output
    g.set_outputs([g.add("softmax", [y], name="s").output])
    return g


def single_layer(op, x_shape, w_shape, attrs=None, seed=0, w_operand=1) -> Graph:
    """One quantizable op with a constant weight operand (and no bias)."""
    rng = np.random.default_rng(seed)
    g = Graph(op)
    x = g.add_input("x", f32(*x_shape))
    w = g.constant(rng.normal(size=w_shape).astype(np.float32), name="w")
    operands = [x, w] if w_operand == 1 else [w, x]
    g.set_outputs([g.add(op, operands, attrs or {}, name="y").output])
    return g


def data_for(graph, n=64, seed=1, mean=0.0) -> np.ndarray:
    shape = [n if isinstance(d, str) else d for d in graph.inputs[0].type.shape]
    return (np.random.default_rng(seed).normal(size=shape) + mean).astype(np.float32)


def quantized(graph, pipeline="calibrate,quantize", data=None, **ctx_args):
    """Run `pipeline` with calibration data; returns (graph, context)."""
    ctx = PassContext(calibration=data_for(graph) if data is None else data, **ctx_args)
    run_pipeline(graph, pipeline, ctx)
    verify(graph)
    return graph, ctx


def weight_consts(graph) -> list:
    return [n for n in graph.nodes if n.op == "const" and isinstance(n.output.type, QuantType)]


def params(v) -> tuple:
    t = v.type
    return (t.storage, t.scale.array.tolist(), t.zero_point.array.tolist())
