"""QDQ export of fake-quant graphs (after `quantize`): QuantizeLinear / DequantizeLinear
pairs around quantized activations, integer weight initializers with DequantizeLinear
(per channel, and blocked INT4 from opset 21), run in onnxruntime within one
quantization step of the reference interpreter's fake-quant results."""
import numpy as np
import onnx
import pytest

from qcompiler.backends.onnx import OnnxExportError, to_onnx
from qcompiler.ir import Graph, verify
from qcompiler.ir.types import QuantType, f32
from qcompiler.numerics.affine import params_from_range, quantize
from qcompiler.runtime.reference import run_graph

from onnx_export_helpers import run_onnx
from onnx_export_quantized import digits, digits_graph, mixed_graph, normal


def steps_off(graph, got: dict, want: list) -> list:
    """Per output: |ONNX - reference| in quantization steps of the output (float outputs: raw)."""
    out = []
    for v, w in zip(graph.outputs, want):
        step = float(v.type.scale.array.max()) if isinstance(v.type, QuantType) else 1.0
        out.append(np.abs(got[v.name] - w) / step)
    return out


def initializer(model, name):
    return next(i for i in model.graph.initializer if i.name == name)


def test_digits_cnn_within_one_step():
    graph = digits_graph("generic", lower=False)
    model = to_onnx(graph, "qdq")
    ops = [n.op_type for n in model.graph.node]
    # one QuantizeLinear per quantized activation (input, 2 convs, pool, flatten, logits), one
    # DequantizeLinear per quantized value read as float (those, the 3 weights and their
    # 3 int32 biases); the 1-channel 3×3 first conv reads its 9 taps as channels (padded to
    # 12) through 1×1 weights (narrow_conv.py)
    assert ops.count("QuantizeLinear") == 6 and ops.count("DequantizeLinear") == 12
    assert ops.count("Slice") == 9 and list(onnx.numpy_helper.to_array(
        initializer(model, "features.0.weight:unfolded")).shape[1:]) == [12, 1, 1]
    # weights are integer initializers named after their torch parameters, per channel
    weight = initializer(model, "features.3.weight")
    assert weight.data_type == onnx.TensorProto.INT8
    dq = next(n for n in model.graph.node if n.op_type == "DequantizeLinear" and n.input[0] == weight.name)
    assert {a.name: a.i for a in dq.attribute}.get("axis", 0) == 0
    x = digits()[2]
    (diff,) = steps_off(graph, run_onnx(model, {"x": x}), run_graph(graph, [x]))
    assert diff.max() <= 1 + 1e-4
    assert np.count_nonzero(diff > 1e-4) <= 0.02 * diff.size


@pytest.mark.parametrize("options", ["weights=i2", "weights=b1,granularity=tensor"])
def test_low_bit_weights_are_the_fake_quant_graph(options):
    """The model computes exactly the fake-quant graph (its int32 biases included): so does
    onnxruntime without its graph optimizations."""
    graph = digits_graph("generic", lower=False, quantize_options=options)
    x = digits()[2]
    (diff,) = steps_off(graph, run_onnx(to_onnx(graph, "qdq"), {"x": x}, optimize=False), run_graph(graph, [x]))
    assert diff.max() <= 1 + 1e-4
    assert np.count_nonzero(diff > 1e-4) <= 0.01 * diff.size


def test_mixed_net_within_one_step():
    graph = mixed_graph("armv8", lower=False)
    x = normal(3, 4, 8, 8)
    diffs = steps_off(graph, run_onnx(to_onnx(graph, "qdq"), {"x": x}), run_graph(graph, [x]))
    assert diffs[0].max() <= 1e-5  # the float softmax
    assert diffs[1].max() <= 1 + 1e-4 and np.count_nonzero(diffs[1] > 1e-4) <= 0.02 * diffs[1].size


def blocked_int4_graph(group: int = 8) -> tuple:
    """x -> quantize(u8) -> linear with int4 weights in groups of `group` -> u8 result."""
    rng = np.random.default_rng(3)
    w = rng.standard_normal((6, 32)).astype(np.float32)
    blocks = np.abs(w.reshape(6, -1, group)).max(axis=2)  # [6, 32/group]
    scale, zp = params_from_range(-blocks, blocks, "i4", symmetric=True)
    wt = QuantType("i4", "f32", w.shape, scale, zp, axis=1, group=group)
    g = Graph("blocked")
    x = g.add_input("x", f32("N", 32))
    xs, xz = params_from_range(-3.0, 3.0, "u8", symmetric=False)
    xq = g.add("quantize", [x], output_types=[QuantType("u8", "f32", ("N", 32), xs, xz)], name="xq").output
    wq = g.constant(quantize(w, wt).astype(np.int8), type=wt, origin="fc.weight", name="w")
    ys, yz = params_from_range(-20.0, 20.0, "u8", symmetric=False)
    y = g.add("linear", [xq, wq], output_types=[QuantType("u8", "f32", ("N", 6), ys, yz)], name="y").output
    g.set_outputs([y])
    verify(g)
    return g, ys


def test_blocked_int4_weights():
    graph, step = blocked_int4_graph()
    model = to_onnx(graph, "qdq")
    assert model.opset_import[0].version == 21
    weight = initializer(model, "fc.weight")
    assert weight.data_type == onnx.TensorProto.INT4 and list(weight.dims) == [6, 32]
    dq = next(n for n in model.graph.node if n.op_type == "DequantizeLinear" and n.input[0] == "fc.weight")
    assert {a.name: a.i for a in dq.attribute} == {"axis": 1, "block_size": 8}
    assert list(initializer(model, dq.input[1]).dims) == [6, 4]
    x = np.random.default_rng(4).uniform(-3, 3, (5, 32)).astype(np.float32)
    got = run_onnx(model, {"x": x})["y"]
    assert np.abs(got - run_graph(graph, [x])[0]).max() <= step * (1 + 1e-4)


def test_blocked_weights_need_opset_21():
    graph, _ = blocked_int4_graph()
    with pytest.raises(OnnxExportError, match=r"needs opset >= 21.*%w is i4 group:8"):
        to_onnx(graph, "qdq", opset=17)
