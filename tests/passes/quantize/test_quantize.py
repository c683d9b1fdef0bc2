"""The `quantize` pass on hand-built graphs: weight constants, activation types, graph
input conversion, what stays float, and the fake-quant numerics."""
import numpy as np
import pytest

from quantize_graphs import data_for, quantized, single_layer, small_cnn, weight_consts
from qcompiler.ir.types import QuantType, TensorType
from qcompiler.numerics.affine import broadcast_params, dequantize
from qcompiler.numerics.sqnr import sqnr_db
from qcompiler.runtime.reference import run_graph


def test_weights_become_per_channel_integer_constants():
    g, _ = quantized(small_cnn())
    consts = {n.output.name: n for n in weight_consts(g)}
    assert sorted(consts) == ["fw", "w"]
    for name, channels in (("w", 4), ("fw", 5)):
        node = consts[name]
        t, stored = node.output.type, node.attrs["value"].array
        assert stored.dtype == np.int8 and stored.min() >= t.qmin and stored.max() <= t.qmax
        assert (t.storage, t.axis, t.scale.shape) == ("i8", 0, (channels,))
        assert not t.zero_point.array.any()  # the generic target quantizes weights symmetrically
        assert np.abs(stored).max() == 127  # the calibrated min/max fills the range
    assert isinstance(g.find("b").type, TensorType)  # biases stay float
    for layer in ("c", "y"):
        attrs = g.find(layer).producer.attrs
        assert (attrs["q.bits"], attrs["q.granularity"]) == (8, "channel")


def test_activations_are_quantized_at_their_producers():
    g, _ = quantized(small_cnn())
    for name in ("c", "r", "p", "f", "y"):
        t = g.find(name).type
        assert isinstance(t, QuantType) and (t.storage, t.axis) == ("u8", None), name
    assert isinstance(g.find("s").type, TensorType)  # softmax runs in float
    conv = g.find("c").producer
    convert = conv.inputs[0].producer
    assert convert.op == "quantize" and convert.inputs[0] is g.inputs[0]
    assert isinstance(g.inputs[0].type, TensorType)
    assert g.op_counts()["quantize"] == 1


def test_fake_quant_graph_stays_close_to_float():
    g = small_cnn()
    x = data_for(g, seed=5)
    before = run_graph(g, [x])[0]
    quantized(g)
    after = run_graph(g, [x])[0]
    assert sqnr_db(before, after) > 25


@pytest.mark.parametrize("op, x_shape, w_shape, attrs, axis", [
    ("conv1d", ("N", 3, 9), (5, 3, 3), {}, 0),
    ("conv_transpose2d", ("N", 3, 4, 4), (3, 6, 2, 2), {"stride": [2, 2]}, 1),
    ("gemm", ("N", 4), (6, 4), {"trans_b": True}, 0),
    ("gemm", ("N", 4), (4, 6), {}, 1),
    ("matmul", ("N", 4), (4, 6), {}, 1),
], ids=["conv1d", "conv-transpose", "gemm-trans-b", "gemm", "matmul"])
def test_per_channel_axis_is_the_output_channel_axis(op, x_shape, w_shape, attrs, axis):
    g = single_layer(op, x_shape, w_shape, attrs)
    original = g.const_value(g.find("w")).copy()
    quantized(g)
    w = g.find("w")
    assert w.type.axis == axis and w.type.scale.shape == (w_shape[axis],)
    error = np.abs(dequantize(g.const_value(w), w.type) - original)
    half_step = np.expand_dims(w.type.scale.array, [d for d in range(len(w_shape)) if d != axis]) / 2
    assert np.all(error <= half_step * (1 + 1e-5))


def test_constant_left_operand_of_matmul_is_quantized_per_row():
    g = single_layer("matmul", (4, "N"), (6, 4), w_operand=0)
    g, _ = quantized(g, data=np.random.default_rng(0).normal(size=(4, 16)).astype(np.float32))
    assert g.find("w").type.axis == 0 and g.find("w").type.scale.shape == (6,)


def test_group_granularity_blocks_the_input_channel_axis():
    g = single_layer("linear", ("N", 8), (6, 8))
    original = g.const_value(g.find("w")).copy()
    g, _ = quantized(g, "calibrate,quantize{granularity=group:4}")
    t = g.find("w").type
    assert (t.axis, t.group, t.scale.shape, t.granularity) == (1, 4, (6, 2), "group:4")
    blocks = original.reshape(6, 2, 4)
    assert np.allclose(t.scale.array, np.abs(blocks).max(axis=2) / 127, rtol=1e-6)
    assert g.find("y").producer.attrs["q.granularity"] == "group:4"


@pytest.mark.parametrize("op, w_shape, in_axis", [("conv2d", (4, 6, 3, 3), 1), ("conv_transpose2d", (6, 2, 3, 3), 0)])
@pytest.mark.parametrize("weights", ["i4", "b1"])
def test_group_granularity_of_conv_weights(op, w_shape, in_axis, weights):
    x_shape = ("N", 6, 5, 5)
    g = single_layer(op, x_shape, w_shape)
    original = g.const_value(g.find("w")).copy()
    g, _ = quantized(g, f"calibrate,quantize{{granularity=group:3,weights={weights}}}")
    t = g.find("w").type
    param_shape = list(w_shape)
    param_shape[in_axis] //= 3
    assert (t.axis, t.group, t.scale.shape) == (in_axis, 3, tuple(param_shape))
    scale, _ = broadcast_params(t, w_shape)
    blocks = np.moveaxis(original, in_axis, -1).reshape(-1, 3)
    if weights == "b1":  # each block's scale is its mean magnitude
        expected = np.moveaxis(np.repeat(np.abs(blocks).mean(axis=1), 3).reshape(
            np.moveaxis(original, in_axis, -1).shape), -1, in_axis)
        assert np.allclose(scale, expected, rtol=1e-6)
    else:
        assert np.all(np.abs(dequantize(g.const_value(g.find("w")), t) - original) <= scale / 2 * (1 + 1e-5))


def test_group_granularity_falls_back_where_the_input_axis_does_not_divide():
    g = single_layer("conv2d", ("N", 3, 5, 5), (4, 3, 3, 3))
    g, ctx = quantized(g, "calibrate,quantize{granularity=group:2}")
    assert g.find("w").type.granularity == "channel"
    [warning] = ctx.diagnostics
    assert warning.severity == "warning" and "divisible by 2" in warning.message and warning.node == "y"


def test_tensor_granularity_and_asymmetric_weights():
    g = single_layer("linear", ("N", 8), (6, 8))
    original = g.const_value(g.find("w")).copy()
    g, _ = quantized(g, "calibrate,quantize{granularity=tensor,symmetric=false}")
    t = g.find("w").type
    assert t.axis is None and t.scale.shape == ()
    assert np.isclose(t.scale.array, (original.max() - original.min()) / 255, rtol=1e-6)
    assert t.zero_point.array != 0


def test_activation_storage_option():
    g, _ = quantized(small_cnn(), "calibrate,quantize{acts=i8}")
    assert {g.find(n).type.storage for n in ("c", "r", "p", "y")} == {"i8"}
    assert g.find("r").type.zero_point.array == -128  # relu output: [0, hi] fills i8 from the bottom


def test_layer_norm_and_opaque_ops_stay_float_and_feed_quantized_ops_through_quantize():
    g = single_layer("linear", ("N", 8), (6, 8))
    y = g.outputs[0]
    ln = g.add("layer_norm", [y], name="ln").output
    w2 = g.constant(np.eye(6, dtype=np.float32), name="w2")
    z = g.add("linear", [ln, w2], name="z").output
    g.set_outputs([z])
    g, _ = quantized(g)
    assert isinstance(g.find("ln").type, TensorType)
    assert g.find("z").producer.inputs[0].producer.op == "quantize"
    assert g.op_counts()["quantize"] == 2  # the graph input and the layer_norm result


def test_constant_operands_of_integer_ops_are_stored_as_integers():
    g = single_layer("linear", ("N", 8), (6, 8))
    shift = g.constant(np.linspace(-1, 1, 6).astype(np.float32), name="shift")
    g.set_outputs([g.add("add", [g.outputs[0], shift], name="z").output])
    g, _ = quantized(g)
    t = g.find("shift").type
    assert isinstance(t, QuantType) and t.axis is None
    assert np.allclose(dequantize(g.const_value(g.find("shift")), t), np.linspace(-1, 1, 6), atol=t.scale.array)
