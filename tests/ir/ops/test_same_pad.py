"""same_pad: ONNX's SAME_UPPER / SAME_LOWER pads from the run-time size (ceil(n / s)
windows), static sizes inferred exactly, dynamic ones under a name of their own, and the
torch implementation equal to the numpy reference."""
import numpy as np
import pytest
import torch

from qcompiler.ir.errors import VerifyError
from qcompiler.ir.ops.same_pad import same_pads
from qcompiler.ir.registry import get_op, infer_types, run_reference
from qcompiler.ir.types import TensorType


@pytest.mark.parametrize("size, kernel, stride, dilation, upper, lower", [
    (7, 3, 2, 1, ((1,), (1,)), ((1,), (1,))),
    (8, 3, 2, 1, ((0,), (1,)), ((1,), (0,))),       # an odd total: the larger half after (UPPER) or before
    (8, 3, 2, 2, ((1,), (2,)), ((2,), (1,))),       # dilation widens the window to 5
    (10, 1, 3, 1, ((0,), (0,)), ((0,), (0,))),      # one-element windows never pad
    (2, 5, 4, 1, ((1,), (2,)), ((2,), (1,))),
])
def test_pads_follow_onnx_same_rule(size, kernel, stride, dilation, upper, lower):
    assert same_pads([size], [kernel], [stride], [dilation], False) == upper
    assert same_pads([size], [kernel], [stride], [dilation], True) == lower
    begin, end = upper
    assert (size + begin[0] + end[0] - ((kernel - 1) * dilation + 1)) // stride + 1 == -(-size // stride)


def test_inferred_shapes():
    attrs = {"kernel": [3, 1], "stride": [2, 2], "dilation": None, "lower": False, "mode": "constant"}
    (t,) = infer_types("same_pad", [TensorType("f32", ("N", 4, 9, "W"))], attrs, [None])
    assert t.shape == ("N", 4, 11, "W")  # W has a one-element window: unpadded
    attrs["kernel"] = [3, 3]
    (t,) = infer_types("same_pad", [TensorType("f32", ("N", 4, 9, "W"))], attrs, [None])
    assert t.shape == ("N", 4, 11, "W_same3s2")
    with pytest.raises(VerifyError, match="a 2-D window needs a rank-4 input"):
        infer_types("same_pad", [TensorType("f32", (4, 9, 9))], attrs, [None])


@pytest.mark.parametrize("mode", ["constant", "edge"])
@pytest.mark.parametrize("lower", [False, True])
def test_torch_equals_the_reference(mode, lower):
    x = np.random.default_rng(0).normal(size=(2, 3, 6, 9)).astype(np.float32)
    attrs = {"kernel": [3, 4], "stride": [2, 3], "dilation": [1, 1], "lower": lower, "mode": mode}
    (expected,) = run_reference("same_pad", [x], attrs)
    assert expected.shape == (2, 3, 7, 10)
    np.testing.assert_array_equal(get_op("same_pad").torch(torch.from_numpy(x), **attrs).numpy(), expected)
    if mode == "edge":  # W gets one column, before it (lower) or after, a copy of its neighbour
        border = expected[..., :2] if lower else expected[..., -2:]
        assert (border[..., 0] == border[..., 1]).all()
