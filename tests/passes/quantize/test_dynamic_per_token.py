"""quantize{acts=dynamic, act_granularity=token}: a run-time u8 scale and zero point per
row (token); equal to the reference in Numba and in onnxruntime, and closer to the float
model than one scale per call when one token carries an outlier."""
import numpy as np
import onnxruntime as ort
import pytest

from qcompiler.backends.numba import NumbaExecutor
from qcompiler.backends.onnx import to_onnx
from qcompiler.ir.core import Graph
from qcompiler.ir.ops.quant_dynamic import dynamic_u8_params, dynamic_u8_row_params
from qcompiler.ir.types import TensorType
from qcompiler.passes.quantize.errors import QuantizeError
from qcompiler.passes.quantize.quantize import Quantize
from qcompiler.passmanager import PassContext, PassManager
from qcompiler.runtime.reference import run_graph


def linear_graph() -> Graph:
    rng = np.random.default_rng(0)
    g = Graph("tokens")
    x = g.add_input("x", TensorType("f32", ("N", 6, 32)))
    w = (rng.standard_normal((24, 32)) * rng.uniform(0.1, 3, (24, 1))).astype(np.float32)
    b = rng.standard_normal(24).astype(np.float32)
    g.set_outputs([g.add("linear", [x, g.constant(w, origin="w"), g.constant(b)], name="y").output])
    return g


def compiled(granularity: str) -> Graph:
    g = linear_graph()
    PassManager(f"quantize{{acts=dynamic, act_granularity={granularity}}},lower").run(g, PassContext())
    return g


@pytest.fixture(scope="module")
def tokens():
    x = np.random.default_rng(1).standard_normal((3, 6, 32)).astype(np.float32)
    x[0, 2, 5] = 60.0   # one outlier token
    x[1, 4] = 0.0       # an all-zero row (padding): scale 1, zero point 0
    x[2, 1] = np.abs(x[2, 1])  # a row with no negative value: zero point 0
    return x


def test_row_params_are_the_tensor_params_of_each_row(tokens):
    rows = tokens.reshape(-1, 32)
    scales, zps = dynamic_u8_row_params(rows)
    for r, s, z in zip(rows, scales, zps):
        assert (s, z) == dynamic_u8_params(r)


def test_per_token_beats_per_tensor_next_to_an_outlier_token(tokens):
    (want,) = run_graph(linear_graph(), [tokens])
    errors = {}
    for granularity in ("tensor", "token"):
        g = compiled(granularity)
        assert [n.attrs["granularity"] for n in g.nodes if n.op == "dynamic_qlinear"] == [granularity]
        (got,) = run_graph(g, [tokens])
        errors[granularity] = np.abs(got - want)[1:].max() / np.abs(want[1:]).max()  # the tokens beside the outlier
    assert errors["token"] < 0.01 < errors["tensor"], errors


def test_numba_and_onnxruntime_equal_the_reference(tokens):
    g = compiled("token")
    (want,) = run_graph(g, [tokens])
    np.testing.assert_array_equal(NumbaExecutor(g)([tokens])[0], want)
    for form in ("qdq", "integer"):
        model = to_onnx(g, form)
        assert {"ReduceMin", "ReduceMax", "MatMulInteger"} <= {n.op_type for n in model.graph.node}
        session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        got = session.run(None, {"x": tokens})
        np.testing.assert_allclose(got[0], want, rtol=1e-6, atol=1e-6 * np.abs(want).max())


def test_token_granularity_needs_dynamic_acts():
    with pytest.raises(QuantizeError, match="act_granularity=token"):
        Quantize(act_granularity="token")
    with pytest.raises(QuantizeError, match="act_granularity=row"):
        Quantize(acts="dynamic", act_granularity="row")


def test_a_symbolic_feature_dim_is_accepted():
    """ONNX imports can leave every dim unknown ('?'); the verifier must not refuse them."""
    g = Graph("unknown_dims")
    x = g.add_input("x", TensorType("f32", ("?", "?", "?")))
    w = np.random.default_rng(2).standard_normal((4, 32)).astype(np.float32)
    g.set_outputs([g.add("linear", [x, g.constant(w, origin="w")], name="y").output])
    PassManager("quantize{acts=dynamic, act_granularity=token},lower").run(g, PassContext())
    assert [n.op for n in g.nodes if n.op != "const"] == ["dynamic_qlinear"]
