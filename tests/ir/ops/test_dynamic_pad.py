"""dynamic_pad: Pad with a run-time pads operand; the `unpadded` axes keep their dims in
inference and are checked when the pads arrive."""
import numpy as np
import pytest
import torch

from qcompiler.ir.errors import VerifyError
from qcompiler.ir.registry import get_op, infer_types, run_reference
from qcompiler.ir.types import TensorType

PADS = TensorType("i64", (8,))


def test_inference_keeps_only_the_unpadded_axes():
    x = TensorType("f32", ("N", 3, 9, "W"))
    (t,) = infer_types("dynamic_pad", [x, PADS], {"mode": "constant", "value": 0.0, "unpadded": [0, 1]}, [None, None])
    assert t.shape == ("N", 3, "?", "?")
    with pytest.raises(VerifyError, match="pads must be 1-D of length 8"):
        infer_types("dynamic_pad", [x, TensorType("i64", (4,))], {"mode": "constant", "value": 0.0}, [None, None])


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge"])
def test_reference_and_torch_pad_and_crop_alike(mode):
    x = np.random.default_rng(0).normal(size=(1, 2, 4, 5)).astype(np.float32)
    pads = np.array([0, 0, 1, 2, 0, 0, 2, -1], np.int64)
    attrs = {"mode": mode, "value": 0.5, "unpadded": [0, 1]}
    (expected,) = run_reference("dynamic_pad", [x, pads], attrs)
    assert expected.shape == (1, 2, 7, 6)
    np.testing.assert_array_equal(get_op("dynamic_pad").torch(torch.from_numpy(x), torch.from_numpy(pads),
                                                              **attrs).numpy(), expected)


def test_pads_on_an_axis_declared_unpadded_are_refused():
    x = np.zeros((1, 2, 4, 5), np.float32)
    with pytest.raises(VerifyError, match=r"pad axis 1, which the graph declares unpadded"):
        run_reference("dynamic_pad", [x, np.array([0, 1, 0, 0, 0, 0, 0, 0])], {"unpadded": [0, 1]})
