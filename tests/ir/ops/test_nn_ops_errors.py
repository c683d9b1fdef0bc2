"""Bad shapes and attributes of the nn ops give a VerifyError that names the problem."""
import numpy as np
import pytest

from qcompiler.ir import Graph, TensorType, VerifyError, infer_types, run_reference, verify


def t(*shape):
    return TensorType("f32", shape)


BAD = [
    ("conv2d", [t(1, 3, 8, 8), t(4, 4, 3, 3)], {}, r"input has 3 channels but the weight expects 4"),
    ("conv2d", [t(1, 4, 8, 8), t(6, 1, 3, 3)], {"groups": 2}, r"input has 4 channels but the weight expects 2"),
    ("conv2d", [t(1, 4, 8, 8), t(5, 2, 3, 3)], {"groups": 2}, r"5 output channels are not divisible by groups=2"),
    ("conv2d", [t(1, 4, 8, 8), t(6, 4, 3, 3), t(5)], {}, r"bias has 5 entries but the weight has 6 output channels"),
    ("conv2d", [t(4, 8, 8), t(6, 4, 3, 3)], {}, r"input must have rank 4 \[N, C, H, W\], got shape \[4, 8, 8\]"),
    ("conv1d", [t(1, 4, 8), t(6, 4, 3, 3)], {}, r"weight must have rank 3"),
    ("conv2d", [t(1, 4, 8, 8), t(6, 4, 3, 3)], {"pad": [1, 1, 1]}, r"'pad' needs 4 entries in ONNX order"),
    ("conv2d", [t(1, 4, 8, 8), t(6, 4, 3, 3)], {"pad": [-1, 0]}, r"'pad' entries must be >= 0"),
    ("conv2d", [t(1, 4, 8, 8), t(6, 4, 3, 3)], {"stride": [0, 1]}, r"'stride' entries must be >= 1"),
    ("conv2d", [t(1, 4, 8, 8), t(6, 4, 3, 3)], {"dilation": [1]}, r"'dilation' needs 2 entries"),
    ("conv2d", [t(1, 4, 8, 8), t(6, 4, 3, 3)], {"groups": 0}, r"groups must be >= 1"),
    ("conv2d", [t(1, 4, 2, 8), t(6, 4, 3, 3)], {}, r"window of extent 3 .* larger than spatial dim 0 of size 2"),
    ("conv2d", [t(1, 4, 8, 8), t(6, 4, 3, 3)], {"dilation": [4, 1]}, r"window of extent 9 \(kernel 3, dilation 4\)"),
    ("conv2d", [t(1, 4, 3, 8), t(6, 4, 3, 3)], {"pad": [3, 0], "pad_mode": "reflect"}, r"reflect padding 3 is too large .* size 3"),
    ("conv2d", [t(1, 4, 3, 8), t(6, 4, 3, 3)], {"pad": [4, 0], "pad_mode": "circular"}, r"circular padding 4 is too large"),
    ("conv_transpose2d", [t(1, 3, 8, 8), t(4, 2, 3, 3)], {}, r"input has 3 channels but the weight expects 4"),
    ("conv_transpose2d", [t(1, 4, 8, 8), t(4, 2, 3, 3)], {"stride": [2, 2], "output_padding": [2, 0]},
     r"output_padding 2 must be smaller than stride 2 or dilation 1"),
    ("conv_transpose2d", [t(1, 4, 8, 8), t(4, 2, 3, 3), t(3)], {"groups": 2}, r"bias has 3 entries but there are 4 output channels"),
    ("conv_transpose2d", [t(1, 6, 8, 8), t(6, 2, 3, 3)], {"groups": 4}, r"6 input channels are not divisible by groups=4"),
    ("conv2d", [t(1, 4, 8, 8), t(6, 4, 3, 3)], {"activation": "relu", "activation_alpha": 0.1},
     r"'activation_alpha' is set but the fused activation is 'relu', not 'leaky_relu'"),
    ("linear", [t(2, 8), t(4, 8)], {"activation": "clip", "activation_min": 2.0, "activation_max": 1.0},
     r"activation_min 2.0 is greater than activation_max 1.0"),
    ("linear", [t(2, 7), t(4, 8)], {}, r"contraction sizes differ: input has 7 .* but weight \[out, in\] has 8"),
    ("linear", [t(2, 8), t(4, 8), t(5)], {}, r"bias shape \[5\] does not match 4 output features"),
    ("linear", [t(2, 8), t(4, 8, 1)], {}, r"weight must be 2-D \[out_features, in_features\]"),
    ("matmul", [t(2, 3, 4), t(5, 6)], {}, r"contraction sizes differ: a has 4 \(shape \[2, 3, 4\]\) but b has 5"),
    ("matmul", [t(2, 3, 4), t(3, 4, 5)], {}, r"batch dims of \[2, 3, 4\] and \[3, 4, 5\] do not broadcast"),
    ("matmul", [t(), t(3)], {}, r"operands must have rank >= 1"),
    ("gemm", [t(3, 4), t(3, 5)], {}, r"contraction sizes differ: a has 4"),
    ("gemm", [t(3, 4), t(4, 5), t(4)], {}, r"c of shape \[4\] does not broadcast to the result \[3, 5\]"),
    ("gemm", [t(2, 3, 4), t(4, 5)], {}, r"operand a must be 2-D"),
    ("batch_norm", [t(1, 4, 8, 8), t(4), t(4), t(3), t(4)], {}, r"mean has shape \[3\] but the input has 4 channels"),
    ("instance_norm", [t(4), t(4), t(4)], {}, r"input must have rank >= 2"),
    ("layer_norm", [t(2, 3, 8), t(3)], {}, r"weight of shape \[3\] does not broadcast to the normalized dims \[8\]"),
    ("layer_norm", [t(2, 3, 8)], {"axis": 3}, r"axis 3 is out of range for rank 3"),
    ("max_pool2d", [t(1, 4, 8, 8)], {"kernel": [2, 2, 2]}, r"'kernel' needs 2 entries"),
    ("max_pool2d", [t(1, 4, 8)], {"kernel": [2, 2]}, r"max_pool2d: input must have rank 4"),
    ("avg_pool1d", [t(1, 4, 2)], {"kernel": [3]}, r"window of extent 3 .* padded to 2"),
    ("global_avg_pool", [t(4, 8)], {}, r"rank >= 3 \[N, C, \*spatial\]"),
    ("adaptive_avg_pool2d", [t(1, 4, 8, 8)], {"output_size": [0, 2]}, r"'output_size' entries must be >= 1"),
    ("softmax", [t(2, 3)], {"axis": 2}, r"softmax: axis 2 is out of range for rank 2"),
    ("log_softmax", [t(2, 3)], {"axis": -3}, r"log_softmax: axis -3 is out of range"),
    ("clip", [t(2, 3)], {"min": 1.0, "max": -1.0}, r"clip: min 1.0 is greater than max -1.0"),
    ("dropout", [t(2, 3)], {"p": 1.0}, r"p must be in \[0, 1\)"),
    ("prelu", [t(2, 3, 4), t(5)], {}, r"slope has 5 entries but the input has 3 channels"),
    ("prelu", [t(2, 3, 4), t(2, 1)], {}, r"slope shape \[2, 1\] does not broadcast to input \[2, 3, 4\]"),
]


@pytest.mark.parametrize("op,types,attrs,message", BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_bad_shapes_and_attributes_are_named(op, types, attrs, message):
    with pytest.raises(VerifyError, match=message):
        infer_types(op, types, attrs)


def test_reference_rejects_bad_shapes_at_run_time_too():
    x, w = np.zeros((1, 3, 8, 8), np.float32), np.zeros((4, 4, 3, 3), np.float32)
    with pytest.raises(VerifyError, match="input has 3 channels but the weight expects 4"):
        run_reference("conv2d", [x, w], {})


def test_verify_names_the_node_and_checks_the_attribute_schema():
    g = Graph()
    x = g.add_input("x", t("N", 4, 8, 8))
    w = g.constant(np.zeros((6, 4, 3, 3), np.float32))
    node = g.add("conv2d", [x, w], {"pad": [1, 1, 1, 1]}, name="c")
    g.set_outputs([node.output])
    verify(g)
    node.attrs["pad_mode"] = "mirror"
    with pytest.raises(VerifyError, match=r"'conv2d' \(%c\).*'pad_mode' = 'mirror' is not a valid str in \['zeros'"):
        verify(g)
    node.attrs.pop("pad_mode")
    node.attrs["activation"] = "gelu"
    with pytest.raises(VerifyError, match=r"'activation' = 'gelu' is not a valid str in \['relu', 'relu6', 'clip'"):
        verify(g)
    node.attrs.pop("activation")
    node.attrs["stride"] = [2, 2]  # the declared result type [N, 6, 8, 8] no longer matches
    with pytest.raises(VerifyError, match=r"'conv2d' \(%c\): result %c has type .* but the op infers"):
        verify(g)


def test_gelu_approximate_must_be_known():
    g = Graph()
    x = g.add_input("x", t(2, 3))
    node = g.add("gelu", [x], {"approximate": "fast"})
    g.set_outputs([node.output])
    with pytest.raises(VerifyError, match=r"'approximate' = 'fast' is not a valid str in \['none', 'tanh'\]"):
        verify(g)
