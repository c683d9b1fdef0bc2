"""Small graphs for the compression tests (imported by the test modules)."""
import numpy as np

from qcompiler.ir.core import Graph
from qcompiler.ir.types import TensorType


def spectrum_matrix(out_features, in_features, decay, seed=0):
    """A random [out, in] f32 matrix whose singular values fall off as decay**i."""
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.standard_normal((out_features, out_features)))
    v, _ = np.linalg.qr(rng.standard_normal((in_features, in_features)))
    k = min(out_features, in_features)
    return (u[:, :k] * decay ** np.arange(k)) @ v[:, :k].T


def linear_graph(weight, bias=True, seed=0):
    """x [N, in] -> linear(x, W, b)."""
    rng = np.random.default_rng(seed)
    g = Graph("fc")
    x = g.add_input("x", TensorType("f32", ("N", weight.shape[1])))
    w = g.constant(np.asarray(weight, np.float32), name="w", origin="fc.weight")
    inputs = [x, w]
    if bias:
        inputs.append(g.constant(rng.standard_normal(weight.shape[0]).astype(np.float32), name="b", origin="fc.bias"))
    g.set_outputs([g.add("linear", inputs, name="y").output])
    return g


def conv_mlp_graph(seed=0, width=16):
    """conv2d(stride 2, pads, relu) -> conv2d -> flatten -> linear -> linear: four layers."""
    rng = np.random.default_rng(seed)
    g = Graph("net")
    x = g.add_input("x", TensorType("f32", ("N", 3, 8, 8)))

    def const(name, *shape):
        return g.constant((rng.standard_normal(shape) / np.sqrt(np.prod(shape[1:]))).astype(np.float32), name=name,
                          origin=f"{name}.weight")

    c1 = g.add("conv2d", [x, const("conv1", width, 3, 3, 3), const("conv1_b", width)],
               {"stride": [2, 2], "pad": [1, 1, 1, 1], "activation": "relu"}, name="c1")
    c2 = g.add("conv2d", [c1.output, const("conv2", width, width, 3, 3)], {"pad": [1, 1, 1, 1]}, name="c2")
    f = g.add("flatten", [c2.output], {"start_dim": 1}, name="f")
    h = g.add("linear", [f.output, const("fc1", 32, width * 16), const("fc1_b", 32)], {"activation": "relu"}, name="h")
    y = g.add("linear", [h.output, const("fc2", 10, 32)], name="y")
    g.set_outputs([y.output])
    return g


def weight_sizes(graph):
    return sum(n.attrs["value"].array.size for n in graph.nodes
               if n.op == "const" and any(u.op in ("conv2d", "linear") and u.inputs[1] is n.output
                                          for u in n.output.users))
