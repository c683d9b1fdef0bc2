"""resize and pad: every coordinate / rounding / padding mode against ONNX Runtime, the
torch implementations against F.interpolate and each other, inference and errors."""
import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from qcompiler.ir import TensorType, VerifyError, get_op, infer_types
from qcompiler.ir.ops.resize import COORD_MODES, NEAREST_MODES
from tensor_op_harness import close, i64, run_both, run_onnx

rng = np.random.default_rng(3)
X = rng.standard_normal((1, 2, 4, 5)).astype(np.float32)
# (sizes, scales): upsampling, downsampling, non-integer ratios, a single output row
RESIZES = [((1, 2, 7, 9), None), ((1, 2, 3, 2), None), ((1, 2, 1, 8), None),
           (None, (1.0, 1.0, 2.0, 1.5)), (None, (1.0, 1.0, 0.5, 0.6))]
LINEAR_MODES = ("half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric")


def resize_both(sizes, scales, **attrs):
    operands = [X] if sizes is None else [X, i64(*sizes)]
    if scales is not None:
        attrs["scales"] = list(scales)
    node, (ref,), _ = run_both("resize", operands, attrs, const=(1,) if sizes else ())
    onnx_attrs = {"mode": attrs.get("mode", "nearest"), "coordinate_transformation_mode": attrs["coord_mode"],
                  "nearest_mode": attrs.get("nearest_mode", "round_prefer_floor")}
    scale_operand = None if scales is None else np.array(scales, np.float32)
    expected = run_onnx("Resize", [X, None, scale_operand, None if sizes is None else i64(*sizes)], onnx_attrs)[0]
    return node, ref, expected


@pytest.mark.parametrize("coord_mode", COORD_MODES)
def test_nearest_resize_matches_onnxruntime(coord_mode):
    for (sizes, scales), nearest_mode in itertools.product(RESIZES, NEAREST_MODES):
        node, ref, expected = resize_both(sizes, scales, coord_mode=coord_mode, nearest_mode=nearest_mode)
        close(ref, expected, tol=0)
        assert node.output.type.shape == expected.shape


@pytest.mark.parametrize("coord_mode", LINEAR_MODES)
def test_linear_resize_matches_onnxruntime(coord_mode):
    for sizes, scales in RESIZES:
        _, ref, expected = resize_both(sizes, scales, mode="linear", coord_mode=coord_mode)
        close(ref, expected, tol=2e-6)


@pytest.mark.parametrize("size", [(7, 9), (3, 2), (1, 1)])
def test_resize_matches_torch_interpolate(size):
    x = torch.from_numpy(X)
    # torch maps a single output pixel like half_pixel, not like ONNX's pytorch_half_pixel
    cases = [({"mode": "linear", "coord_mode": "half_pixel"}, dict(mode="bilinear", align_corners=False)),
             ({"mode": "linear", "coord_mode": "align_corners"}, dict(mode="bilinear", align_corners=True)),
             ({"coord_mode": "asymmetric", "nearest_mode": "floor"}, dict(mode="nearest")),
             ({"coord_mode": "half_pixel", "nearest_mode": "round_prefer_ceil"}, dict(mode="nearest-exact"))]
    for attrs, torch_args in cases:
        _, (ref,), _ = run_both("resize", [X, i64(1, 2, *size)], attrs, const=(1,))
        close(ref, F.interpolate(x, size=size, **torch_args).numpy(), tol=2e-6)


def test_resize_torch_gradient_matches_interpolate():
    x, x_ref = torch.from_numpy(X).requires_grad_(), torch.from_numpy(X).requires_grad_()
    weights = torch.from_numpy(rng.standard_normal((1, 2, 8, 10)).astype(np.float32))
    y = get_op("resize").torch(x, scales=[2.0, 2.0], mode="linear", coord_mode="half_pixel")
    (y * weights).sum().backward()
    (F.interpolate(x_ref, scale_factor=2, mode="bilinear") * weights).sum().backward()
    close(x.grad.numpy(), x_ref.grad.numpy(), tol=1e-5)


def test_resize_inference():
    def shape(x_shape, sizes=None, n=None, **attrs):
        types, consts = [TensorType("f32", x_shape)], [None]
        if sizes is not None or n is not None:
            types.append(TensorType("i64", (n or len(sizes),)))
            consts.append(None if sizes is None else i64(*sizes))
        return infer_types("resize", types, attrs, consts)[0].shape

    assert shape(("N", 3, "H", 8), scales=[1.0, 1.0, 1.0, 0.5]) == ("N", 3, "H", 4)
    assert shape(("N", 3, "H", 8), scales=[2.0, 0.5]) == ("N", 3, "?", 4)
    assert shape(("N", 3, 5, 8), sizes=[10, 16]) == ("N", 3, 10, 16)
    assert shape(("N", 3, 5, 8), n=4) == ("N", 3, "?", "?")
    for message, kwargs in [("exactly one of", {}), ("exactly one of", dict(sizes=[1, 3, 2, 2], scales=[2.0, 2.0])),
                            ("only H and W can be scaled", dict(scales=[1.0, 2.0, 2.0, 2.0])),
                            ("change N or C", dict(sizes=[1, 4, 2, 2])),
                            ("2 \\(H, W\\) or 4", dict(sizes=[2, 2, 2]))]:
        with pytest.raises(VerifyError, match=message):
            shape((1, 3, 5, 8), **kwargs)
    with pytest.raises(VerifyError, match="4-D NCHW"):
        shape((3, 5, 8), scales=[2.0, 2.0])
    with pytest.raises(VerifyError, match="linear mode needs a float input"):
        infer_types("resize", [TensorType("u8", (1, 1, 2, 2))], {"scales": [2.0, 2.0], "mode": "linear"})


PADS = {
    "constant": [[1, 0, 2, 0, 0, 1, 0, 3], [0, -1, 2, 1, 0, 0, -2, -1]],
    "reflect": [[0, 1, 2, 1, 0, 2, 1, 3], [0, 0, 1, 0, 0, 0, 0, 2]],
    "edge": [[0, 2, 0, 4, 0, 1, 3, 0], [1, 1, 1, 1, 1, 1, 1, 1]],
}


@pytest.mark.parametrize("mode", sorted(PADS))
def test_pad_matches_onnxruntime(mode):
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    for pads in PADS[mode]:
        attrs = {"pads": pads, "mode": mode, "value": 1.5}
        _, (ref,), _ = run_both("pad", [x], attrs)
        close(ref, run_onnx("Pad", [x, i64(*pads), np.array(1.5, np.float32)], {"mode": mode})[0])
        # the same pads on a rank-2 tensor
        flat, flat_pads = x.reshape(6, 20), [pads[1], pads[3], pads[5], pads[7]]
        _, (ref,), _ = run_both("pad", [flat], {"pads": flat_pads, "mode": mode})
        close(ref, run_onnx("Pad", [flat, i64(*flat_pads)], {"mode": mode})[0])


def test_pad_integers_and_symbolic_dims():
    node, (ref,), _ = run_both("pad", [np.arange(6, dtype=np.int64).reshape(2, 3)], {"pads": [1, 0, 0, 1], "value": 7.0})
    assert node.output.type == TensorType("i64", (3, 4)) and ref[0].tolist() == [7, 7, 7, 7]
    def shape(pads):
        return infer_types("pad", [TensorType("f32", ("N", 3, "H"))], {"pads": pads})[0].shape

    assert shape([0, 1, 1, 0, 1, -1]) == ("N", 5, "H")
    assert shape([0, 1, 1, 0, 1, 0]) == ("N", 5, "?")


@pytest.mark.parametrize("attrs,message", [
    ({"pads": [1, 1]}, "needs 4 entries"),
    ({"pads": [0, 3, 0, 0], "mode": "reflect"}, "must be smaller than its size 3"),
    ({"pads": [0, -2, 0, -2]}, "crop more than the 3 elements of axis 1"),
])
def test_pad_errors(attrs, message):
    with pytest.raises(VerifyError, match=message):
        infer_types("pad", [TensorType("f32", (2, 3))], attrs)
