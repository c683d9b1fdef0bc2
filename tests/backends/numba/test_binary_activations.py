"""Binary (b1) activations at zero point 0 (levels ±s: XNOR-Net's sign binarization) from the
compiler: a conv stack without ReLU compiled W1A1 runs its middle conv by XNOR-popcount, writes a
b1 result as a threshold on the accumulator, and equals the fake-quant simulation integer for
integer in Numba, in the torch executor and in onnxruntime; an op without a binary kernel (add)
stays float with the reason, and its b1 result is quantized by an explicit threshold."""
import numpy as np
import onnxruntime as ort
import pytest
import torch

import qcompiler
from qcompiler.analysis.agreement import integer_agreement
from qcompiler.backends.numba.executor import NumbaExecutor
from qcompiler.backends.numba.ops import bitserial, products
from qcompiler.backends.onnx import to_onnx
from qcompiler.runtime.reference import run_graph
from qcompiler.runtime.torch import run_torch

from numba_cases import counted_calls

W1A1 = "fold-constants,canonicalize,dce,calibrate{method=mse,bits=1},quantize{weights=b1,acts=b1},lower"


class SignNet(torch.nn.Module):
    """conv a (8-bit edge) -> conv b -> conv c [-> a + a read by c] -> linear y (8-bit edge); no ReLU, so
    the activations between the edges span both signs and binarize at zero point 0."""

    def __init__(self, doubled: bool):
        super().__init__()
        torch.manual_seed(0)
        self.doubled = doubled
        self.a, self.b = torch.nn.Conv2d(3, 64, 3, padding=1), torch.nn.Conv2d(64, 64, 3, padding=1)
        self.c, self.y = torch.nn.Conv2d(64, 8, 3, padding=1), torch.nn.Linear(8 * 6 * 6, 10)

    def forward(self, x):
        a = self.a(x)
        return self.y(self.c(self.b(a + a if self.doubled else a)).flatten(1))


@pytest.fixture(scope="module", params=[False, True], ids=["convs", "with_add"])
def sign_net(request):
    calibration = np.random.default_rng(0).normal(size=(16, 3, 6, 6)).astype(np.float32)
    cm = qcompiler.compile(SignNet(request.param).eval(), target="generic", calibration=calibration, pipeline=W1A1,
                           progress=False)
    return cm, np.random.default_rng(1).normal(size=(3, 3, 6, 6)).astype(np.float32), request.param


def test_w1a1_runs_xnor_popcount_and_equals_the_simulation_everywhere(sign_net, monkeypatch):
    cm, x, doubled = sign_net
    b = next(n for n in cm.graph.nodes if n.op == "qconv2d" and n.inputs[1].type.storage == "b1")
    assert b.inputs[0].type.storage == "b1" and int(b.inputs[0].type.zero_point.array) == 0
    assert b.output.type.storage == "b1"  # a threshold on its accumulator
    plans = []
    original = bitserial.bitserial_plan
    monkeypatch.setattr(products, "bitserial_plan", lambda *args: plans.append(original(*args)) or plans[-1])
    runs = counted_calls(monkeypatch, products, "run_bitserial_conv")
    got = NumbaExecutor(cm.graph)([x])[0]
    assert len(runs) == 2 and [p.xnor for p in plans if p is not None] == [True, True]  # b and c: b1 x b1
    assert all(r.exact for r in integer_agreement(cm.graph, cm.fake_quant_graph, [x]))
    want = run_graph(cm.fake_quant_graph, [x])[0]
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(run_torch(cm.fake_quant_graph, [x])[0], want)
    for form in ("integer", "qoperator", "qdq"):
        model = to_onnx(cm.fake_quant_graph if form == "qdq" else cm.graph, form)
        session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        np.testing.assert_array_equal(session.run(None, {"x": x})[0], want, err_msg=form)


def test_an_add_of_binary_values_stays_float_with_the_reason(sign_net):
    cm, _, doubled = sign_net
    adds = [n for n in cm.graph.nodes if n.op == "add"]
    assert len(adds) == doubled
    for add in adds:
        assert "is binary (b1): only conv and linear have binary kernels" in add.attrs["q.float"]
        assert add.output.uses[0][0].op == "quantize"  # its b1 result: an explicit threshold
