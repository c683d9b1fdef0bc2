"""Group-wise weights on the Numba backend: qconv1d / qconv2d / qlinear / qmatmul nodes
with per-group weights give the reference interpreter's integers exactly, over conv
geometry (stride, dilation, padding modes, conv groups), block sizes that are not a
multiple of the kernel's four taps, asymmetric block zero points and every rounding."""
import numpy as np
import pytest

from qcompiler.ir.dense import Dense
from qcompiler.ir.registry import run_reference
from qcompiler.ir.types import QuantType
from qcompiler.numerics.affine import dequantize, params_from_range
from qcompiler.numerics.fixed_point import quantize_multipliers_per_row

from numba_cases import ROUNDINGS, compare, one_node, qtype, storage

RNG = np.random.default_rng(5)


def grouped_weight(shape, group, axis, asymmetric=False, storage_name="i8"):
    blocks = list(shape)
    blocks[axis] //= group
    zp = RNG.integers(-2, 3, blocks) if asymmetric else np.zeros(blocks)
    return QuantType(storage_name, "f32", tuple(shape), RNG.uniform(0.005, 0.05, blocks).astype(np.float32),
                     zp.astype(np.int32), axis=axis, group=group)


def requant(x_t, w_t, out_t, channel_axis, rounding):
    m = np.moveaxis(x_t.scale.array * w_t.scale.array.astype(np.float64) / out_t.scale.array, channel_axis, 0)
    mult, shift = quantize_multipliers_per_row(m.reshape(m.shape[0], -1))
    return {"multiplier": Dense(np.ascontiguousarray(np.moveaxis(mult.reshape(m.shape), 0, channel_axis))),
            "shift": Dense(shift), "rounding": rounding, "clamp": [out_t.qmin, out_t.qmax]}


def out_type(float_op, operands, attrs, storage_name="u8"):
    """A result type covering the float op's range on the dequantized operands."""
    real = run_reference(float_op, [dequantize(a, t) for t, a in operands], attrs)[0]
    scale, zp = params_from_range(real.min(), real.max(), storage_name, symmetric=False)
    return qtype(storage_name, real.shape, zp, scale)


CONV_CASES = [  # x shape, w shape, group, attrs
    ((2, 8, 7, 9), (5, 8, 3, 3), 4, {}),
    ((1, 6, 8, 8), (4, 6, 3, 2), 3, {"stride": [2, 1], "pad": [1, 0, 2, 1]}),  # 3 taps: padded to four
    ((2, 8, 9, 9), (6, 4, 3, 3), 2, {"groups": 2, "dilation": [2, 1], "pad": [2, 1, 2, 1]}),
    ((1, 4, 6, 6), (3, 4, 3, 3), 4, {"pad": [1, 1, 1, 1], "pad_mode": "reflect", "stride": [2, 2]}),
    ((2, 16, 5, 5), (8, 16, 1, 1), 8, {}),
]


@pytest.mark.parametrize("case", range(len(CONV_CASES)))
def test_qconv2d(case):
    x_shape, w_shape, group, extra = CONV_CASES[case]
    rounding = ROUNDINGS[case % 3]
    attrs = {"stride": [1, 1], "pad": [0, 0, 0, 0], "dilation": [1, 1], "groups": 1, "pad_mode": "zeros", **extra}
    x_t, w_t = qtype("u8", x_shape, zp=RNG.integers(0, 20), scale=0.04), grouped_weight(w_shape, group, 1, case % 2)
    x, w = storage(RNG, x_t), storage(RNG, w_t)
    out_t = out_type("conv2d", [(x_t, x), (w_t, w)], attrs)
    b = RNG.integers(-3000, 3000, w_shape[0]).astype(np.int32)
    b_t = QuantType("i32", "f32", b.shape, np.ones(b.shape, np.float32), np.zeros(b.shape, np.int32), axis=0)
    node = one_node("qconv2d", [(x_t, None), (w_t, w), (b_t, b)], {**attrs, **requant(x_t, w_t, out_t, 0, rounding)},
                    out_t)
    y = compare(node, [x, w, b])
    assert len(np.unique(y)) > 8, "the output range is exercised"


def test_qconv1d():
    attrs = {"stride": [2], "pad": [1, 2], "dilation": [1], "groups": 1, "pad_mode": "zeros"}
    x_t, w_t = qtype("i8", (2, 6, 11), zp=-3, scale=0.05), grouped_weight((4, 6, 3), 2, 1, asymmetric=True)
    x, w = storage(RNG, x_t), storage(RNG, w_t)
    out_t = out_type("conv1d", [(x_t, x), (w_t, w)], attrs, "i8")
    compare(one_node("qconv1d", [(x_t, None), (w_t, w)], {**attrs, **requant(x_t, w_t, out_t, 0, "half_up")}, out_t),
            [x, w])


@pytest.mark.parametrize("x_shape", [(3, 16), (2, 3, 16)])
def test_qlinear(x_shape):
    x_t, w_t = qtype("u8", x_shape, zp=11, scale=0.03), grouped_weight((7, 16), 4, 1, asymmetric=True,
                                                                       storage_name="i4")
    x, w = storage(RNG, x_t), storage(RNG, w_t)
    out_t = out_type("linear", [(x_t, x), (w_t, w)], {}, "i8")
    b = RNG.integers(-500, 500, 7).astype(np.int32)
    b_t = QuantType("i32", "f32", (7,), np.ones(7, np.float32), np.zeros(7, np.int32), axis=0)
    node = one_node("qlinear", [(x_t, None), (w_t, w), (b_t, b)], requant(x_t, w_t, out_t, 0, "half_even"), out_t)
    compare(node, [x, w, b])


@pytest.mark.parametrize("a_shape", [(12,), (2, 5, 12)])
def test_qmatmul_with_a_constant_grouped_operand(a_shape):
    a_t, b_t = qtype("i8", a_shape, zp=2, scale=0.05), grouped_weight((12, 6), 3, 0)
    a, b = storage(RNG, a_t), storage(RNG, b_t)
    out_t = out_type("matmul", [(a_t, a), (b_t, b)], {}, "i8")
    node = one_node("qmatmul", [(a_t, None), (b_t, b)], requant(a_t, b_t, out_t, 1, "half_away"), out_t)
    compare(node, [a, b])
