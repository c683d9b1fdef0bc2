"""Binary (b1) activations at zero point 0 (levels ±s: XNOR-Net's sign binarization) from the
compiler: a conv stack without ReLU compiled W1A1 runs its middle conv by XNOR-popcount, writes a
b1 result as a threshold on the accumulator, and equals the fake-quant simulation integer for
integer in Numba, in the torch executor and in onnxruntime. A residual add (no binary kernel)
keeps 8-bit operands under binary activations; asked to read b1 by hand, it stays float with
the reason."""
import numpy as np
import onnxruntime as ort
import pytest
import torch

from qcompiler.analysis.agreement import integer_agreement
from qcompiler.backends.numba.executor import NumbaExecutor
from qcompiler.backends.numba.ops import bitserial, products
from qcompiler.backends.onnx import to_onnx
from qcompiler.frontends.fx import import_module
from qcompiler.ir.clone import clone
from qcompiler.passmanager import PassContext, run_pipeline
from qcompiler.runtime.reference import run_graph
from qcompiler.runtime.torch import run_torch

from numba_cases import counted_calls

PREFIX = "fold-constants,canonicalize,dce"
W1A1 = "calibrate{method=mse,bits=1},quantize{weights=b1,acts=b1},lower"


class SignNet(torch.nn.Module):
    """conv a (8-bit edge) -> conv b -> conv c [reading b + a] -> linear y (8-bit edge); no ReLU, so the
    activations between the edges span both signs and binarize at zero point 0."""

    def __init__(self, residual: bool):
        super().__init__()
        torch.manual_seed(0)
        self.residual = residual
        self.a, self.b = torch.nn.Conv2d(3, 64, 3, padding=1), torch.nn.Conv2d(64, 64, 3, padding=1)
        self.c, self.y = torch.nn.Conv2d(64, 8, 3, padding=1), torch.nn.Linear(8 * 6 * 6, 10)

    def forward(self, x):
        a = self.a(x)
        b = self.b(a)
        return self.y(self.c(b + a if self.residual else b).flatten(1))


def compiled(residual: bool, act_bits: dict):
    """The lowered SignNet and the fake-quant graph, with `act_bits` {layer: q.act_bits} set by hand."""
    calibration = np.random.default_rng(0).normal(size=(16, 3, 6, 6)).astype(np.float32)
    graph = import_module(SignNet(residual).eval(), torch.from_numpy(calibration[:2]), dynamic_batch=True)
    ctx = PassContext(calibration=calibration)
    run_pipeline(graph, PREFIX, ctx)
    for name, bits in act_bits.items():
        graph.find(name).producer.attrs["q.act_bits"] = bits
    run_pipeline(graph, W1A1.removesuffix(",lower"), ctx)
    fake_quant = clone(graph)
    run_pipeline(graph, "lower", ctx)
    return graph, fake_quant


@pytest.fixture(scope="module")
def sign_net():
    x = np.random.default_rng(1).normal(size=(3, 3, 6, 6)).astype(np.float32)
    return (*compiled(False, {}), x)


def test_w1a1_runs_xnor_popcount_and_equals_the_simulation_everywhere(sign_net, monkeypatch):
    graph, fake_quant, x = sign_net
    b = next(n for n in graph.nodes if n.op == "qconv2d" and n.inputs[1].type.storage == "b1")
    assert b.inputs[0].type.storage == "b1" and int(b.inputs[0].type.zero_point.array) == 0
    assert b.output.type.storage == "b1"  # a threshold on its accumulator
    plans = []
    original = bitserial.bitserial_plan
    monkeypatch.setattr(products, "bitserial_plan", lambda *args: plans.append(original(*args)) or plans[-1])
    runs = counted_calls(monkeypatch, products, "run_bitserial_conv")
    got = NumbaExecutor(graph)([x])[0]
    assert len(runs) == 2 and [p.xnor for p in plans if p is not None] == [True, True]  # b and c: b1 x b1
    assert all(r.exact for r in integer_agreement(graph, fake_quant, [x]))
    want = run_graph(fake_quant, [x])[0]
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(run_torch(fake_quant, [x])[0], want)
    for form in ("integer", "qoperator", "qdq"):
        model = to_onnx(fake_quant if form == "qdq" else graph, form)
        session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        np.testing.assert_array_equal(session.run(None, {"x": x})[0], want, err_msg=form)


def test_the_residual_stream_stays_8_bit_under_binary_activations():
    graph, _ = compiled(True, {})
    [add] = [n for n in graph.nodes if n.op == "qadd"]  # an integer add: no binary kernel, so 8-bit operands
    assert {v.type.storage for v in (*add.inputs, add.output)} == {"u8"}


def test_an_add_of_binary_values_asked_for_by_hand_stays_float_with_the_reason():
    graph, fake_quant = compiled(True, {"b": 1})  # conv b reads a in one bit, and so does the add
    [add] = [n for n in graph.nodes if n.op == "add"]
    assert "is binary (b1): only conv and linear have binary kernels" in add.attrs["q.float"]
    x = np.random.default_rng(2).normal(size=(2, 3, 6, 6)).astype(np.float32)
    np.testing.assert_array_equal(NumbaExecutor(graph)([x])[0], run_graph(fake_quant, [x])[0])
