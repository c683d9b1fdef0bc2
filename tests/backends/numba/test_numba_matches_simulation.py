"""Numba's integer layers against the fake-quant simulation they implement.

The simulation (the reference interpreter on the quantized graph) computes in float what
the integer kernels compute in integers, including the two roundings the lowering adds:
the bias stored as int32 at s_x·s_w, and a fused table activation's input written to a
16-bit intermediate. On a residual block every integer layer, and so the whole network,
equals the simulation integer for integer. Before the simulation shared those roundings,
~0.1% of outputs differed by one step, which deep networks amplify (the PP-OCR detector's
map moved by up to 0.6; ShuffleNet's output SQNR by 0.8 dB)."""
import numpy as np
import pytest
import torch

import qcompiler
from qcompiler.analysis.agreement import integer_agreement
from qcompiler.backends.numba.executor import NumbaExecutor
from qcompiler.runtime.reference import run_graph


class ResidualBlock(torch.nn.Module):
    def __init__(self, bias: bool, activation):
        super().__init__()
        torch.manual_seed(0)
        self.stem = torch.nn.Conv2d(3, 16, 3, padding=1, bias=bias)
        self.conv1 = torch.nn.Conv2d(16, 16, 3, padding=1, bias=bias)
        self.conv2 = torch.nn.Conv2d(16, 16, 3, padding=1, bias=bias)
        self.act = activation
        self.pool = torch.nn.AvgPool2d(2)
        self.head = torch.nn.Linear(16 * 4 * 4, 10, bias=bias)

    def forward(self, x):
        x = self.act(self.stem(x))
        x = torch.relu(x + self.conv2(self.act(self.conv1(x))))
        return self.head(self.pool(x).flatten(1))


@pytest.fixture(scope="module")
def test_images():
    return np.random.default_rng(1).normal(size=(4, 3, 8, 8)).astype(np.float32)


@pytest.mark.parametrize("bias, activation", [(False, torch.nn.ReLU()), (True, torch.nn.ReLU()),
                                              (True, torch.nn.Hardswish()), (True, torch.nn.Sigmoid())])
def test_every_integer_layer_equals_the_simulation(test_images, bias, activation):
    calibration = np.random.default_rng(0).normal(size=(8, 3, 8, 8)).astype(np.float32)
    cm = qcompiler.compile(ResidualBlock(bias, activation).eval(), target="x86-vnni", calibration=calibration,
                           progress=False)
    rows = integer_agreement(cm.graph, cm.fake_quant_graph, [test_images])
    ops = {r.op for r in rows}
    assert ops >= {"qconv2d", "qadd", "qavg_pool2d", "qlinear"}
    if not isinstance(activation, torch.nn.ReLU):  # the table activations are fused: product -> i16 -> qlut
        assert "qlut" in ops and sum(n.op == "qlut" for n in cm.graph.nodes) == 2
    assert all(r.exact for r in rows), [r for r in rows if not r.exact]
    got = NumbaExecutor(cm.graph)([test_images])[0]
    np.testing.assert_array_equal(got, run_graph(cm.fake_quant_graph, [test_images])[0])
