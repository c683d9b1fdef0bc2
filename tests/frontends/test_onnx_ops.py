"""ONNX ops mapped onto the catalog: convolutions (auto_pad), a small CNN, Flatten and one
node of each remaining mapped op, each compared with onnxruntime."""
import numpy as np
import pytest
from onnx import TensorProto, helper

from qcompiler.testing.onnx_models import floats, import_and_compare as check, ints, make_model as model
from qcompiler.testing.onnx_models import opaque_ops as opaque, tensor as t, untyped

F = TensorProto.FLOAT
RNG = np.random.default_rng(0)


def x(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


# --- nn ops ------------------------------------------------------------------------------

@pytest.mark.parametrize("auto_pad,pads", [("SAME_UPPER", [1, 0, 2, 1]), ("SAME_LOWER", [2, 1, 1, 0]), ("VALID", [0, 0, 0, 0])])
def test_conv_auto_pad_is_resolved_to_explicit_pads(auto_pad, pads):
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], auto_pad=auto_pad, strides=[2, 2], kernel_shape=[4, 3])
    m = model([node], [t("x", [1, 2, 9, 8])], [t("y", None)], 13, inits=[floats("w", x(3, 2, 4, 3)), floats("b", x(3))])
    g = check(m, {"x": x(1, 2, 9, 8)}, tol=1e-4)
    (conv,) = [n for n in g.nodes if n.op == "conv2d"]
    assert conv.attrs["pad"] == pads  # 9x8 input, 4x3 kernel, stride 2: totals 3 and 1


def test_same_padding_over_dynamic_dims_at_stride_1_needs_no_size():
    """At stride 1 SAME pads are the kernel's extent less one, whatever the size; with a
    stride they depend on it, so a same_pad node computes them from the run-time size."""
    def same_conv(strides):
        node = helper.make_node("Conv", ["x", "w"], ["y"], auto_pad="SAME_UPPER", strides=strides, kernel_shape=[4, 3])
        return model([node], [t("x", ["N", 2, "H", "W"])], [t("y", None)], 13, inits=[floats("w", x(3, 2, 4, 3))])

    for size in ((9, 8), (6, 11)):
        g = check(same_conv([1, 1]), {"x": x(1, 2, *size)}, tol=1e-4)
        assert [n.attrs["pad"] for n in g.nodes if n.op == "conv2d"] == [[1, 1, 2, 1]]
    g = check(same_conv([2, 1]), {"x": x(1, 2, 9, 8)}, tol=1e-4)
    assert [n.op for n in g.nodes if n.op != "const"] == ["same_pad", "conv2d"]


def test_small_cnn_maps_every_op_and_matches_onnxruntime():
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1], group=1),
        helper.make_node("BatchNormalization", ["c1", "g", "be", "mu", "var"], ["bn"], epsilon=1e-3),
        helper.make_node("HardSigmoid", ["bn"], ["hs"]),  # ONNX default alpha 0.2
        helper.make_node("Mul", ["bn", "hs"], ["a1"]),
        helper.make_node("Conv", ["a1", "dw"], ["c2"], group=4, pads=[1, 1, 1, 1], dilations=[1, 1]),
        helper.make_node("LeakyRelu", ["c2"], ["a2"]),
        helper.make_node("MaxPool", ["a2"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("AveragePool", ["p1"], ["p2"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("ConvTranspose", ["p2", "wt"], ["up"], strides=[2, 2], kernel_shape=[2, 2]),
        helper.make_node("GlobalAveragePool", ["up"], ["gap"]),
        helper.make_node("Flatten", ["gap"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "fc", "fcb"], ["logits"], transB=1, alpha=0.5),
        helper.make_node("Softmax", ["logits"], ["y"], axis=1),
    ]
    inits = [floats("w1", x(4, 3, 3, 3)), floats("g", RNG.uniform(0.5, 1.5, 4)), floats("be", x(4)),
             floats("mu", x(4)), floats("var", RNG.uniform(0.5, 2, 4)), floats("dw", x(4, 1, 3, 3)),
             floats("wt", x(4, 2, 2, 2)), floats("fc", x(5, 2)), floats("fcb", x(5))]
    m = model(nodes, [t("x", ["batch", 3, 8, 8])], [t("y", ["batch", 5])], 12, inits=inits)
    g = check(m, {"x": x(2, 3, 8, 8)}, tol=1e-4)
    assert opaque(g) == []
    (hs,) = [n for n in g.nodes if n.op == "hardsigmoid"]
    assert hs.attrs["alpha"] == pytest.approx(0.2)
    assert {n.attrs["origin"] for n in g.nodes if n.op == "const"} >= {"w1", "fc", "wt"}


@pytest.mark.parametrize("axis", [0, 1, 2, 3])
def test_flatten_always_gives_two_dims(axis):
    m = model([helper.make_node("Flatten", ["x"], ["y"], axis=axis)], [t("x", ["N", 3, 4])], [t("y", None)], 13)
    g = check(m, {"x": x(2, 3, 4)})
    assert g.outputs[0].type.rank == 2


# --- one node each, compared with onnxruntime ---------------------------------------------

I64 = TensorProto.INT64
SINGLE_NODE_CASES = {
    # name: (node, inputs, initializers, opset, catalog op it must map to)
    "prelu_last_axis_slope": (helper.make_node("PRelu", ["x", "s"], ["y"]), [t("x", [2, 3, 4])],
                              [floats("s", [0.1, 0.2, 0.3, 0.4])], 16, "prelu"),
    "prelu_channel_slope": (helper.make_node("PRelu", ["x", "s"], ["y"]), [t("x", [2, 3, 4])],
                            [floats("s", [[0.1], [0.2], [0.3]])], 16, "prelu"),
    "max_variadic": (helper.make_node("Max", ["x", "a", "b"], ["y"]), [t("x", [2, 3])],
                     [floats("a", [0.1, 0.2, -0.3]), floats("b", [[0.5], [-2.0]])], 13, "maximum"),
    "sum_variadic": (helper.make_node("Sum", ["x", "a", "a"], ["y"]), [t("x", [2, 3])], [floats("a", [1, 2, 3])], 13, "add"),
    "dropout": (helper.make_node("Dropout", ["x"], ["y"], ratio=0.3), [t("x", [2, 3])], [], 10, "identity"),
    "gelu_tanh": (helper.make_node("Gelu", ["x"], ["y"], approximate="tanh"), [t("x", [2, 3])], [], 20, "gelu"),
    "layer_norm": (helper.make_node("LayerNormalization", ["x", "g", "b"], ["y"], axis=-2, epsilon=1e-3),
                   [t("x", [2, 3, 4])], [floats("g", np.ones((3, 4)) * 1.5), floats("b", np.ones((3, 4)))], 17, "layer_norm"),
    "instance_norm": (helper.make_node("InstanceNormalization", ["x", "g", "b"], ["y"]), [t("x", [2, 3, 5])],
                      [floats("g", [1, 2, 3]), floats("b", [0, 1, 0])], 13, "instance_norm"),
    "argmax": (helper.make_node("ArgMax", ["x"], ["y"], axis=1, keepdims=0), [t("x", [2, 5])], [], 13, "argmax"),
    "cast_where": (helper.make_node("Where", ["c", "x", "x2"], ["y"]), [t("x", [2, 3]), t("c", [2, 3], TensorProto.BOOL)],
                   [floats("x2", np.zeros((2, 3)))], 16, "where"),
    "gather_negative": (helper.make_node("Gather", ["x", "i"], ["y"], axis=1), [t("x", [2, 5])], [ints("i", [[-1, 0]])], 13, "gather"),
    "expand": (helper.make_node("Expand", ["x", "s"], ["y"]), [t("x", [3, 1])], [ints("s", [2, 1, 4])], 13, "expand"),
    "tile": (helper.make_node("Tile", ["x", "r"], ["y"]), [t("x", [2, 3])], [ints("r", [2, 1])], 13, "tile"),
    "transpose_default": (helper.make_node("Transpose", ["x"], ["y"]), [t("x", [2, 3, 4])], [], 13, "transpose"),
    "matmul_batched": (helper.make_node("MatMul", ["x", "w"], ["y"]), [t("x", [2, 3, 4])], [floats("w", np.ones((4, 5)))], 13, "matmul"),
    "cumsum": (helper.make_node("CumSum", ["x", "ax"], ["y"]), [t("x", [2, 3])], [ints("ax", 1)], 14, "cumsum"),
    "cast": (helper.make_node("Cast", ["x"], ["y"], to=I64), [t("x", [2, 3])], [], 13, "cast"),
    "shape_slice": (helper.make_node("Shape", ["x"], ["y"], start=1), [t("x", [2, 3, 4])], [], 15, "shape"),
    "constant_of_shape": (helper.make_node("ConstantOfShape", ["s"], ["y"], value=ints("v", [7])), [t("x", [1])],
                          [ints("s", [2, 2])], 13, "constant_of_shape"),
    "range": (helper.make_node("Range", ["a", "b", "c"], ["y"]), [t("x", [1])],
              [floats("a", 1.0), floats("b", 4.0), floats("c", 0.5)], 13, "range"),
}


@pytest.mark.parametrize("case", SINGLE_NODE_CASES)
def test_single_node_maps_to_the_catalog_and_matches_onnxruntime(case):
    node, inputs, inits, opset, op = SINGLE_NODE_CASES[case]
    m = model([node], inputs, [untyped("y")], opset, inits=inits)
    feeds = {i.name: (x(*[d.dim_value for d in i.type.tensor_type.shape.dim]) if i.type.tensor_type.elem_type == F
                      else RNG.random([d.dim_value for d in i.type.tensor_type.shape.dim]) > 0.5) for i in inputs}
    if node.op_type in ("ConstantOfShape", "Range"):
        m.graph.output.append(t("x", [1]))  # keep the (otherwise unused) input alive
    g = check(m, feeds, tol=1e-5)
    assert op in g.op_counts() and opaque(g) == []
