"""The channels-last qoperator export (backends/onnx/channels_last.py, width_blocked_conv.py):
on by default only where ONNX Runtime then runs no Transpose, and its results equal the
channels-first export's bit for bit wherever it applies."""
import collections

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

import qcompiler
from qcompiler.backends.onnx import to_onnx
from qcompiler.backends.onnx.errors import OnnxExportError
from qcompiler.backends.onnx.width_blocked_conv import blocked_weights

STEM_BLOCK = 4  # pixels per block of a grey stem


class SmallCNN(torch.nn.Module):
    """stem conv (3×3 over `channels`) + BN + ReLU, one residual block, then either the
    global average pool or a flatten of the whole map into the linear layer."""

    def __init__(self, channels: int, size: int, pooled: bool):
        super().__init__()
        torch.manual_seed(0)
        self.stem = torch.nn.Sequential(torch.nn.Conv2d(channels, 8, 3, padding=1, bias=False),
                                        torch.nn.BatchNorm2d(8), torch.nn.ReLU())
        self.conv1 = torch.nn.Conv2d(8, 8, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(8, 8, 3, padding=1)
        self.pooled = pooled
        self.fc = torch.nn.Linear(8 if pooled else 8 * size * size, 4)

    def forward(self, x):
        x = self.stem(x)
        y = torch.relu(self.conv2(torch.relu(self.conv1(x))) + x)
        if self.pooled:
            y = torch.nn.functional.adaptive_avg_pool2d(y, 1)
        return self.fc(torch.flatten(y, 1))


class GreyLeNet(torch.nn.Module):
    """conv 3×3 -> relu -> max pool -> conv -> relu -> max pool -> flatten -> linear."""

    def __init__(self, size: int):
        super().__init__()
        torch.manual_seed(0)
        self.conv1 = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(4, 8, 3, padding=1)
        self.fc = torch.nn.Linear(8 * (size // 4) ** 2, 3)

    def forward(self, x):
        x = torch.nn.functional.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = torch.nn.functional.max_pool2d(torch.relu(self.conv2(x)), 2)
        return self.fc(torch.flatten(x, 1))


CASES = {  # name: (model, input channels, size)
    # no Transpose, channels-last by default: the stem width-blocked; the flatten's weights permuted
    "grey 12x12": (lambda: SmallCNN(1, 12, pooled=True), 1, 12),
    "grey flatten 8x8": (lambda: SmallCNN(1, 8, pooled=False), 1, 8),
    "grey lenet 12x12": (lambda: GreyLeNet(12), 1, 12),
    # a Transpose would remain, channels-first by default
    "grey 10x10": (lambda: SmallCNN(1, 10, pooled=True), 1, 10),  # no multiple of 4: the stem unfolds
    "rgb 8x8": (lambda: SmallCNN(3, 8, pooled=True), 3, 8),       # at the input
}


@pytest.fixture(scope="module")
def compiled():
    models = {}
    for name, (model, channels, size) in CASES.items():
        calibration = np.random.default_rng(0).normal(size=(16, channels, size, size)).astype(np.float32)
        models[name] = qcompiler.compile(model().eval(), target="x86-vnni", calibration=calibration,
                                         progress=False)
    return models


def ort_run(model: onnx.ModelProto, x: np.ndarray, optimized_path=None) -> np.ndarray:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    if optimized_path is not None:
        options.optimized_model_filepath = str(optimized_path)
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def channels_last_convs(model: onnx.ModelProto) -> int:
    return sum(n.op_type == "QLinearConv" and any(a.name == "channels_last" and a.i == 1 for a in n.attribute)
               for n in model.graph.node)


@pytest.mark.parametrize("name, convs", [("grey 12x12", 3), ("grey flatten 8x8", 3), ("grey lenet 12x12", 2)])
def test_grey_cnn_runs_channels_last_with_no_transpose(compiled, name, convs, tmp_path):
    cm = compiled[name]
    _, _, size = CASES[name]
    x = np.random.default_rng(1).normal(size=(5, 1, size, size)).astype(np.float32)
    default, first = to_onnx(cm.graph, "qoperator"), to_onnx(cm.graph, "qoperator", channels_last=False)
    assert channels_last_convs(default) == convs and channels_last_convs(first) == 0
    np.testing.assert_array_equal(ort_run(default, x, tmp_path / "optimized.onnx"), ort_run(first, x))
    ops = collections.Counter(n.op_type for n in onnx.load(tmp_path / "optimized.onnx").graph.node)
    assert ops["QLinearConv"] == convs and ops["QGemm"] == 1
    # the stem as one conv over blocks of 4 pixels: no slices, no transposes, only reshapes of the same bytes
    assert not {"Transpose", "Slice", "Concat", "Pad", "MaxPool"} & set(ops)
    blocked = [list(t.dims) for t in default.graph.initializer
               if t.name.endswith(":width_blocked") and len(t.dims) == 4]
    stem_channels = next(n for n in cm.graph.nodes if n.op == "qconv2d").output.type.shape[1]
    assert blocked[0][:2] == [STEM_BLOCK * stem_channels, STEM_BLOCK]
    # the narrow convs after it read pixels in blocks too: 4 of 8 channels (12×12, 8×8), 2 of 4 (the lenet's 6×6)
    assert len(blocked) == convs and all(dims[1] in (32, 8) for dims in blocked[1:])


@pytest.mark.parametrize("name", ["grey 10x10", "rgb 8x8"])
def test_channels_last_only_on_request_where_a_transpose_remains(compiled, name):
    cm = compiled[name]
    _, channels, size = CASES[name]
    x = np.random.default_rng(2).normal(size=(3, channels, size, size)).astype(np.float32)
    default, forced = to_onnx(cm.graph, "qoperator"), to_onnx(cm.graph, "qoperator", channels_last=True)
    assert channels_last_convs(default) == 0 and channels_last_convs(forced) == 3
    # channels-first, a grey stem is unfolded again (narrow_conv.py), not left as a one-channel conv
    assert any(n.op_type == "Concat" for n in default.graph.node) == (channels == 1)
    transposes = [n for n in forced.graph.node if n.op_type == "Transpose"]
    assert len(transposes) == 1  # into the region: the rgb input, the unfolded grey stem
    np.testing.assert_array_equal(ort_run(forced, x), ort_run(default, x))


def test_channels_last_is_refused_outside_the_qoperator_form(compiled):
    with pytest.raises(OnnxExportError, match="qoperator form, not 'integer'"):
        to_onnx(compiled["grey 12x12"].graph, "integer", channels_last=True)


def naive_conv(x: np.ndarray, w: np.ndarray, pads: tuple) -> np.ndarray:
    """Integer NCHW convolution, stride 1, zero padding (top, left, bottom, right)."""
    top, left, bottom, right = pads
    x = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right))).astype(np.int64)
    out_channels, _, kh, kw = w.shape
    rows, cols = x.shape[2] - kh + 1, x.shape[3] - kw + 1
    y = np.zeros((x.shape[0], out_channels, rows, cols), np.int64)
    for ky in range(kh):
        for kx in range(kw):
            y += np.einsum("nchw,oc->nohw", x[:, :, ky:ky + rows, kx:kx + cols], w[:, :, ky, kx].astype(np.int64))
    return y


@pytest.mark.parametrize("kernel, left, channels, block", [((3, 3), 1, 1, 4), ((5, 3), 0, 1, 4), ((1, 5), 2, 1, 4),
                                                            ((3, 4), 3, 1, 4), ((3, 3), 1, 3, 2), ((3, 3), 1, 8, 4),
                                                            ((1, 3), 0, 2, 2)])
def test_blocked_weights_compute_the_convolution(kernel, left, channels, block):
    """A conv over [N, H, W/B, B·C] with the blocked weights writes [N, H, W/B, B·O], whose
    bytes are the conv's NHWC result [N, H, W, O]; the weight zero point fills the rest."""
    rng = np.random.default_rng(3)
    kh, kw = kernel
    x = rng.integers(-100, 100, size=(2, channels, 5, 12))
    w = rng.integers(-127, 128, size=(6, channels, kh, kw)).astype(np.int8)
    zero = rng.integers(-3, 4, size=6).astype(np.int8)
    pads = (kh // 2, left, kh - 1 - kh // 2, kw - 1 - left)
    want = naive_conv(x, w.astype(np.int64) - zero[:, None, None, None], pads).transpose(0, 2, 3, 1)
    blocked, (pad_left, pad_right) = blocked_weights(w, zero, left, block)
    centred = blocked.astype(np.int64) - np.tile(zero, block)[:, None, None, None]
    blocks = x.transpose(0, 2, 3, 1).reshape(2, 5, 12 // block, block * channels).transpose(0, 3, 1, 2)  # NHWC bytes
    got = naive_conv(blocks, centred, (pads[0], pad_left, pads[2], pad_right)).transpose(0, 2, 3, 1)
    np.testing.assert_array_equal(got.reshape(want.shape), want)


def test_ops_on_values_without_a_layout_stay_out_of_the_region():
    """A Clip of rows and a Concat of shape values may follow a layout op in name only:
    they never join (a 4-D permutation of their 2-D or 1-D values would be meaningless)."""
    import onnx_ir as ir
    from onnx import TensorProto, helper

    from qcompiler.backends.onnx.channels_last import channels_last_region

    u8 = lambda name: helper.make_tensor(name, TensorProto.UINT8, [], [0])
    f = lambda name: helper.make_tensor(name, TensorProto.FLOAT, [], [1.0])
    inits = [f("s"), u8("z"), helper.make_tensor("w", TensorProto.INT8, [2, 1, 1, 1], [1, 1]),
             helper.make_tensor("ws", TensorProto.FLOAT, [], [1.0]),
             helper.make_tensor("wz", TensorProto.INT8, [], [0]), u8("lo"), u8("hi"),
             helper.make_tensor("a", TensorProto.INT64, [1], [1]), helper.make_tensor("b", TensorProto.INT64, [1], [8])]
    nodes = [helper.make_node("QLinearConv", ["x", "s", "z", "w", "ws", "wz", "s", "z"], ["conv"]),
             helper.make_node("Identity", ["conv"], ["y"]),
             helper.make_node("Clip", ["rows", "lo", "hi"], ["clip"]),
             helper.make_node("Concat", ["a", "b"], ["concat"], axis=0),
             helper.make_node("Identity", ["clip"], ["clipped"]),  # graph outputs never follow: read them
             helper.make_node("Identity", ["concat"], ["shape"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.UINT8, [1, 1, 4, 4]),
                                           helper.make_tensor_value_info("rows", TensorProto.UINT8, [1, 8])],
                              [helper.make_tensor_value_info(n, t, None) for n, t in
                               (("y", TensorProto.UINT8), ("clipped", TensorProto.UINT8), ("shape", TensorProto.INT64))],
                              inits)
    model = ir.serde.deserialize_model(helper.make_model(graph))
    shapes = {"x": (1, 1, 4, 4), "conv": (1, 2, 4, 4), "y": (1, 2, 4, 4), "rows": (1, 8), "clip": (1, 8),
              "a": (1,), "b": (1,), "concat": (2,)}
    region = channels_last_region(model.graph, shapes)
    assert [n.op_type for n in region.nodes.values()] == ["QLinearConv"]
    assert region.transposes() == 1  # the conv's result, read outside the region
