"""auto_pad SAME_UPPER / SAME_LOWER on a strided window over a dynamic dim imports as a
same_pad node (the pads follow the run-time width) instead of an opaque node: the float
graph equals onnxruntime on the source at any width, and a model compiled at width 32
runs at widths 33 and 40 in Numba and in every ONNX export form, equal to the fake-quant
simulation and to the float model within quantization tolerance. Pads computed from
Shape arithmetic (timm's pad_same) import as dynamic_pad, natively too."""
import numpy as np
import pytest
from onnx import helper

import qcompiler
from qcompiler.backends.onnx import to_onnx
from qcompiler.frontends.onnx import import_onnx
from qcompiler.ir.types import QuantType
from qcompiler.runtime.reference import run_graph
from qcompiler.runtime.torch import run_torch
from qcompiler.testing.onnx_models import floats, ints, make_model, run_onnxruntime, tensor

WIDTHS = (32, 33, 40, 7)


def same_model(auto: str = "SAME_UPPER", avg_counts_pad: int = 1, pool_dilations=(1, 1)):
    """x [N, 3, 9, W] -> stride-2 SAME conv, relu, stride-2 SAME max pool, SAME avg pool
    with strides [1, 2]."""
    rng = np.random.default_rng(0)
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], auto_pad=auto, strides=[2, 2], kernel_shape=[3, 3]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("MaxPool", ["r"], ["m"], auto_pad=auto, strides=[2, 2], kernel_shape=[3, 3],
                         dilations=list(pool_dilations)),
        helper.make_node("AveragePool", ["m"], ["y"], auto_pad=auto, strides=[1, 2], kernel_shape=[2, 2],
                         count_include_pad=avg_counts_pad),
    ]
    inits = [floats("w", rng.normal(0, 0.3, (4, 3, 3, 3))), floats("b", rng.normal(0, 0.1, 4))]
    return make_model(nodes, [tensor("x", ["N", 3, 9, "W"])], [tensor("y", ["N", 4, None, None])], 13, inits=inits)


def image(width: int, batch: int = 1) -> np.ndarray:
    return np.random.default_rng(width).normal(size=(batch, 3, 9, width)).astype(np.float32)


@pytest.mark.parametrize("auto", ["SAME_UPPER", "SAME_LOWER"])
def test_float_import_follows_the_width(auto):
    model = same_model(auto)
    graph = import_onnx(model)
    assert [n.op for n in graph.nodes if n.op != "const"] == [
        "same_pad", "conv2d", "relu", "same_pad", "max_pool2d", "same_pad", "avg_pool2d"]
    assert graph.inputs[0].type.shape == ("N", 3, 9, "W")
    exported = to_onnx(graph, "float", 11)
    for width in WIDTHS:
        x = image(width, batch=2)
        expected = run_onnxruntime(model, {"x": x})[0]
        assert expected.shape[3] == -(-width // 8)  # ceil(W / 2) three times
        for got in (run_graph(graph, [x])[0], run_torch(graph, [x])[0], run_onnxruntime(exported, {"x": x})[0]):
            np.testing.assert_allclose(got, expected, rtol=0, atol=2e-6, err_msg=f"{auto} width {width}")


@pytest.mark.parametrize("options, reason", [
    ({"avg_counts_pad": 0}, "auto_pad SAME over a dynamic dim with the padding excluded from the average"),
    ({"pool_dilations": (2, 2)}, "dilated max pooling with auto_pad SAME over a dynamic dim"),
])
def test_what_same_pad_cannot_express_stays_opaque_with_the_reason(options, reason):
    graph = import_onnx(same_model(**options))
    assert any(n.op.startswith("onnx.") for n in graph.nodes)
    assert any(reason in op.reason for op in graph.meta["opaque_ops"]), graph.meta["opaque_ops"]


@pytest.fixture(scope="module")
def compiled():
    model = same_model()
    calibration = np.random.default_rng(1).normal(size=(4, 3, 9, 32)).astype(np.float32)
    cm = qcompiler.compile(model, calibration=calibration, progress=False)
    sources = {"qdq": cm.fake_quant_graph, "qoperator": cm.graph, "integer": cm.graph}
    return model, cm, {form: to_onnx(graph, form) for form, graph in sources.items()}


@pytest.mark.parametrize("width", [33, 40])
def test_a_model_compiled_at_width_32_runs_at_other_widths(compiled, width):
    model, cm, exports = compiled
    assert cm.graph.inputs[0].type.shape[3] == "W"
    step = float(cm.graph.outputs[0].type.scale.array)
    x = image(width)
    fp32 = run_onnxruntime(model, {"x": x})[0]
    simulated = run_graph(cm.fake_quant_graph, [x])[0]
    ours = cm(x)
    assert ours.shape == fp32.shape == (1, 4, 3, -(-width // 8))
    np.testing.assert_array_equal(ours, simulated)
    assert np.abs(ours - fp32).max() <= 6 * step and np.abs(ours - fp32).mean() <= step
    for form, exported in exports.items():
        got = run_onnxruntime(exported, {"x": x})[0]
        np.testing.assert_allclose(got, simulated if form == "qdq" else ours, rtol=0, atol=step / 100, err_msg=form)


def test_same_pad_runs_on_stored_integers(compiled):
    _, cm, _ = compiled
    pads = [n for n in cm.graph.nodes if n.op == "same_pad"]
    quantized = [n.label() for n in pads if isinstance(n.inputs[0].type, QuantType)]
    assert len(pads) == 3 and len(quantized) == 2  # the first pads the float input, before its quantize
    assert all(n.inputs[0].type.scale == n.output.type.scale for n in pads if n.label() in quantized)
    assert not set(quantized) & set(cm.executor.fallback_nodes)


def shape_pad_model():
    """timm's pad_same spelled in ONNX: SAME pads of a stride-2 3x3 window computed from
    Shape(x) (Max on int64 included), then Pad and a conv without padding."""
    rng = np.random.default_rng(0)
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "hw_axes"], ["hw"], axis=0),
        helper.make_node("Add", ["hw", "one"], ["hw1"]),
        helper.make_node("Div", ["hw1", "two"], ["out"]),                       # ceil(hw / 2)
        helper.make_node("Mul", ["out", "two"], ["o2"]),
        helper.make_node("Add", ["o2", "one"], ["reach"]),                      # (out - 1) * 2 + 3
        helper.make_node("Sub", ["reach", "hw"], ["t0"]),
        helper.make_node("Max", ["t0", "zero"], ["total"]),
        helper.make_node("Div", ["total", "two"], ["begin"]),
        helper.make_node("Sub", ["total", "begin"], ["end"]),
        helper.make_node("Concat", ["zeros2", "begin", "zeros2", "end"], ["pads"], axis=0),
        helper.make_node("Pad", ["x", "pads"], ["p"]),
        helper.make_node("Conv", ["p", "w", "b"], ["y"], strides=[2, 2], kernel_shape=[3, 3]),
    ]
    inits = [floats("w", rng.normal(0, 0.3, (4, 3, 3, 3))), floats("b", rng.normal(0, 0.1, 4)),
             ints("hw_axes", [2, 3]), ints("one", [1]), ints("two", [2]), ints("zero", [0]), ints("zeros2", [0, 0])]
    return make_model(nodes, [tensor("x", ["N", 3, 9, "W"])], [tensor("y", ["N", 4, None, None])], 13, inits=inits)


def test_pads_from_shape_arithmetic_import_natively_and_export_at_every_opset():
    model = shape_pad_model()
    graph = import_onnx(model)
    assert not [n.op for n in graph.nodes if n.op.startswith("onnx.")]
    (pad,) = [n for n in graph.nodes if n.op == "dynamic_pad"]
    assert pad.attrs["unpadded"] == [0, 1] and pad.output.type.shape[:2] == ("N", 3)  # batch and channels kept
    exports = [to_onnx(graph, "float", opset) for opset in (11, 21)]  # Max on int64 needs 12: Where before
    for width in WIDTHS:
        x = image(width, batch=2)
        expected = run_onnxruntime(model, {"x": x})[0]
        for got in (run_graph(graph, [x])[0], run_torch(graph, [x])[0], *[run_onnxruntime(e, {"x": x})[0]
                                                                          for e in exports]):
            np.testing.assert_allclose(got, expected, rtol=0, atol=2e-6, err_msg=f"width {width}")
