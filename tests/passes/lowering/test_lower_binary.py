"""Binary (b1) weights lower to integer products like any other width: ±1 storage with
zero point 0, so the accumulator bound counts 1 per weight; the Numba backend and the
ONNX integer export run the result exactly as the reference does."""
import numpy as np
import onnxruntime as ort

from qcompiler.backends.numba.executor import NumbaExecutor
from qcompiler.backends.onnx import to_onnx
from qcompiler.ir import Graph, verify
from qcompiler.ir.types import f32
from qcompiler.passmanager import PassContext, PassManager
from qcompiler.runtime.reference import run_graph

RNG = np.random.default_rng(3)


def normal(*shape, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def conv_linear() -> Graph:
    g = Graph("binary")
    x = g.add_input("x", f32("N", 3, 6, 6))
    c = g.add("conv2d", [x, g.constant(normal(4, 3, 3, 3), origin="conv.weight"), g.constant(normal(4))],
              {"pad": [1, 1, 1, 1], "activation": "relu"}, name="c").output
    f = g.add("flatten", [c], name="f").output
    g.set_outputs([g.add("linear", [f, g.constant(normal(5, 144, scale=0.1), origin="fc.weight")], name="y").output])
    return g


def test_binary_weights_become_integer_products_run_exactly_by_both_backends():
    g = conv_linear()
    x = normal(16, 3, 6, 6)
    PassManager("calibrate,quantize{weights=b1},lower").run(g, PassContext(calibration=x))
    verify(g)
    products = [n for n in g.nodes if n.op in ("qconv2d", "qlinear")]
    assert len(products) == 2 and "dequantize" not in g.op_counts()
    for node in products:
        w = node.inputs[1]
        assert w.type.storage == "b1" and set(np.unique(Graph.const_value(w))) == {-1, 1}
    reference = run_graph(g, [x])[0]
    np.testing.assert_array_equal(NumbaExecutor(g)([x])[0], reference)
    session = ort.InferenceSession(to_onnx(g, "integer").SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_array_equal(session.run(None, {"x": x})[0], reference)
