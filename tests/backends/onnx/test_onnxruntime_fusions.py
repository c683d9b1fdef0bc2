"""What ONNX Runtime runs of our exported residual CNNs (issue 14 item 1): in both
quantized forms a residual block becomes its fused integer kernels (NHWC QLinearConv with
the relu as its clamp, QLinearAdd for add + relu), and a 1-channel 3×3 stem a 1×1
QLinearConv over its 9 taps (backends/onnx/narrow_conv.py), all in one NHWC stretch.
Counted in the graph ORT optimizes (SessionOptions.optimized_model_filepath)."""
import collections

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

import qcompiler
from qcompiler.runtime.reference import run_graph


class GreyResNet(torch.nn.Module):
    """stem conv 1 -> 8 (3×3) + BN + ReLU, one identity residual block, global pool, linear."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.stem = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, padding=1, bias=False), torch.nn.BatchNorm2d(8),
                                        torch.nn.ReLU())
        self.conv1 = torch.nn.Conv2d(8, 8, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(8, 8, 3, padding=1)
        self.fc = torch.nn.Linear(8, 4)

    def forward(self, x):
        x = self.stem(x)
        y = torch.relu(self.conv2(torch.relu(self.conv1(x))) + x)
        return self.fc(torch.flatten(torch.nn.functional.adaptive_avg_pool2d(y, 1), 1))


@pytest.fixture(scope="module")
def compiled():
    calibration = np.random.default_rng(0).normal(size=(16, 1, 10, 10)).astype(np.float32)
    return qcompiler.compile(GreyResNet().eval(), target="x86-vnni", calibration=calibration, progress=False)


def optimized_ops(path, tmp_path) -> collections.Counter:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return collections.Counter(f"{n.domain}:{n.op_type}" for n in onnx.load(options.optimized_model_filepath).graph.node)


@pytest.mark.parametrize("form", ["qoperator", "qdq"])
def test_residual_block_runs_as_fused_integer_kernels(compiled, form, tmp_path):
    ops = optimized_ops(compiled.export_onnx(tmp_path / f"{form}.onnx", form=form), tmp_path)
    assert ops["com.microsoft:QLinearConv"] == 3  # NHWC, relu as the output clamp
    assert ops["com.microsoft:QLinearAdd"] == 1  # add and relu in one requantization
    assert ops["com.microsoft:QLinearGlobalAveragePool"] == 1 and ops["com.microsoft:QGemm"] == 1
    assert ops[":Slice"] == 9 and ops[":Concat"] == 1  # the stem's taps, on uint8 storage
    # nothing runs in float: no float conv, add or relu, no dequantize inside the network,
    # and one transpose into NHWC and one out
    assert not {":Add", ":Relu", ":Conv", "com.microsoft.nchwc:Conv", ":QLinearConv", ":Gemm"} & set(ops)
    assert ops[":QuantizeLinear"] == 1 and ops[":DequantizeLinear"] == 1 and ops[":Transpose"] == 2


def test_unfolded_stem_computes_the_fake_quant_graph(compiled, tmp_path):
    """The qdq form with the unfolded stem computes the simulation's values (onnxruntime
    without its graph optimizations)."""
    x = np.random.default_rng(1).normal(size=(8, 1, 10, 10)).astype(np.float32)
    path = compiled.export_onnx(tmp_path / "qdq.onnx", form="qdq")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_array_equal(got, run_graph(compiled.fake_quant_graph, [x])[0])


def test_relu_after_an_add_given_its_range_passes_the_storage(compiled, tmp_path):
    """The residual relu shares the add's quantization (zero point 0): no node in the qdq
    form, where DequantizeLinear -> Relu -> QuantizeLinear left ORT a DQ / Q pair to run."""
    model = onnx.load(compiled.export_onnx(tmp_path / "qdq.onnx", form="qdq"))
    assert [n.op_type for n in model.graph.node].count("Relu") == 2  # the two convs' fused relus


class NarrowConvs(torch.nn.Module):
    """Unfolded stems with stride, no padding and dilation: 1 -> 4 (3×3, stride 2), 2 -> 4 (2×2, dilation 2)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.strided = torch.nn.Conv2d(1, 4, 3, stride=2)
        self.dilated = torch.nn.Conv2d(2, 4, 2, dilation=2, padding=1)

    def forward(self, x):
        return self.dilated(torch.relu(self.strided(x))[:, :2])


def test_strided_and_dilated_narrow_convs_unfold_exactly(tmp_path):
    calibration = np.random.default_rng(2).normal(size=(8, 1, 11, 9)).astype(np.float32)
    compiled = qcompiler.compile(NarrowConvs().eval(), target="x86-vnni", calibration=calibration, progress=False)
    x = np.random.default_rng(3).normal(size=(4, 1, 11, 9)).astype(np.float32)
    for form, graph in (("qdq", compiled.fake_quant_graph), ("qoperator", compiled.graph)):
        path = compiled.export_onnx(tmp_path / f"{form}.onnx", form=form)
        assert [n.op_type for n in onnx.load(path).graph.node].count("Slice") == 9 + 4 + 1  # the taps, [:, :2]
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        got = session.run(None, {session.get_inputs()[0].name: x})[0]
        step = graph.outputs[0].type.scale.array.max()
        assert np.abs(got - run_graph(graph, [x])[0]).max() <= step * (1 + 1e-4), form
