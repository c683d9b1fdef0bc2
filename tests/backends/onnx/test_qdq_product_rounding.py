"""The qdq form rounds a conv / linear as the integer kernels do: the bias as int32 at
s_x·s_w behind a DequantizeLinear, and at opset >= 21 a fused table activation's input
through an int16 QuantizeLinear / DequantizeLinear pair; onnxruntime then computes the
fake-quant simulation's values on a shallow network."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto

import qcompiler
from qcompiler.backends.onnx.export import to_onnx
from qcompiler.runtime.reference import run_graph


class ConvHardswishLinear(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.head = torch.nn.Linear(8 * 6 * 6, 5)

    def forward(self, x):
        return self.head(torch.nn.functional.hardswish(self.conv(x)).flatten(1))


@pytest.fixture(scope="module")
def compiled():
    calibration = np.random.default_rng(0).normal(size=(8, 3, 6, 6)).astype(np.float32)
    return qcompiler.compile(ConvHardswishLinear().eval(), target="x86-vnni", calibration=calibration, progress=False)


def _producers(model: onnx.ModelProto) -> dict:
    return {out: n for n in model.graph.node for out in n.output}


@pytest.mark.parametrize("opset", [17, 21])
def test_biases_are_int32_and_the_table_input_int16_from_opset_21(compiled, opset):
    model = to_onnx(compiled.fake_quant_graph, "qdq", opset=opset)
    producers, initializers = _producers(model), {i.name: i for i in model.graph.initializer}
    conv = next(n for n in model.graph.node if n.op_type == "Conv")
    gemm = next(n for n in model.graph.node if n.op_type in ("Gemm", "MatMul"))
    for product in (conv, gemm):
        if product.op_type == "MatMul":  # + Add
            product = next(n for n in model.graph.node if n.op_type == "Add" and gemm.output[0] in n.input)
            bias = producers[product.input[1]]
        else:
            bias = producers[product.input[2]]
        assert bias.op_type == "DequantizeLinear"
        assert initializers[bias.input[0]].data_type == TensorProto.INT32
    activation = next(n for n in model.graph.node if n.op_type == "HardSwish")
    before = producers[activation.input[0]]
    if opset >= 21:
        assert before.op_type == "DequantizeLinear" and producers[before.input[0]].op_type == "QuantizeLinear"
        assert initializers[producers[before.input[0]].input[2]].data_type == TensorProto.INT16
    else:
        assert before is conv


def test_onnxruntime_computes_the_simulation(compiled):
    x = np.random.default_rng(1).normal(size=(16, 3, 6, 6)).astype(np.float32)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    model = to_onnx(compiled.fake_quant_graph, "qdq", opset=21)
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_array_equal(got, run_graph(compiled.fake_quant_graph, [x])[0])
    np.testing.assert_array_equal(compiled(x), got)
