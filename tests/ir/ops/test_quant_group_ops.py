"""Group-wise weights in qconv2d / qlinear (qcompiler/ir/ops/quant_group.py): the
reference equals an explicit per-block computation (int32 partial sums, one multiplier
each, one rounding shift per channel), stays within a step of the float product of the
dequantized operands, and the verifier rejects malformed attributes and overflow."""
import numpy as np
import pytest

from qcompiler.ir import Graph, verify
from qcompiler.ir.dense import Dense
from qcompiler.ir.errors import VerifyError
from qcompiler.ir.registry import run_reference
from qcompiler.ir.types import QuantType
from qcompiler.numerics.affine import dequantize, params_from_range
from qcompiler.numerics.fixed_point import quantize_multipliers_per_row, requantize_scaled
from qcompiler.runtime.reference import run_node

RNG = np.random.default_rng(11)


def grouped_weight(shape, group, axis=1, storage="i8", asymmetric=False):
    blocks = list(shape)
    blocks[axis] //= group
    scale = RNG.uniform(0.002, 0.05, blocks).astype(np.float32)
    zp = RNG.integers(-3, 4, blocks).astype(np.int32) if asymmetric else np.zeros(blocks, np.int32)
    t = QuantType(storage, "f32", shape, scale, zp, axis=axis, group=group)
    return t, RNG.integers(t.qmin, t.qmax + 1, shape).astype(np.int32)


def per_tensor(storage, shape, scale, zp):
    return QuantType(storage, "f32", shape, np.float32(scale), np.int32(zp))


def block_requant(x_t, w_t, out_scale):
    """multiplier per block, shift per output channel (channels on axis 0 of the weight)."""
    m = x_t.scale.array * w_t.scale.array.astype(np.float64) / out_scale
    mult, shift = quantize_multipliers_per_row(m.reshape(m.shape[0], -1))
    return {"multiplier": Dense(mult.reshape(m.shape)), "shift": Dense(shift)}


def node_of(op, operands, attrs, out):
    g = Graph("g")
    values = [g.constant(a, name=f"c{i}", type=t) for i, (t, a) in enumerate(operands)]
    node = g.add(op, values, attrs, name="y", output_types=[out])
    g.set_outputs(node.outputs)
    verify(g)
    return node


@pytest.mark.parametrize("rounding", ["half_even", "half_away"])
def test_qlinear_equals_explicit_block_sums(rounding):
    x_t = per_tensor("u8", (5, 12), 0.02, 7)
    w_t, w = grouped_weight((6, 12), 3, asymmetric=True)
    out = per_tensor("i8", (5, 6), 0.05, -2)
    x = RNG.integers(0, 256, x_t.shape).astype(np.int32)
    b = RNG.integers(-2000, 2000, 6).astype(np.int32)
    b_t = QuantType("i32", "f32", (6,), np.ones(6, np.float32), np.zeros(6, np.int32), axis=0)
    attrs = {**block_requant(x_t, w_t, 0.05), "rounding": rounding, "clamp": [-128, 127]}
    node = node_of("qlinear", [(x_t, x), (w_t, w), (b_t, b)], attrs, out)
    got = run_node(node, [x, w, b])[0]

    m = attrs["multiplier"].array.astype(np.int64)
    xc = (x - 7).astype(np.int64)
    wc = (w - np.repeat(w_t.zero_point.array, 3, axis=1)).astype(np.int64)
    total = np.zeros((5, 6), np.int64) + b * m.max(axis=1)
    for g in range(4):
        partial = xc[:, 3 * g:3 * g + 3] @ wc[:, 3 * g:3 * g + 3].T
        assert np.abs(partial).max() < 2**31
        total += partial * m[:, g]
    want = requantize_scaled(total, attrs["shift"].array.astype(np.int64), -2, -128, 127, rounding)
    np.testing.assert_array_equal(got, want)


def test_qconv2d_is_within_a_step_of_the_float_conv():
    x_t = per_tensor("u8", (2, 8, 6, 6), 0.03, 0)
    w_t, w = grouped_weight((6, 4, 3, 3), 2)  # groups=2: 4 input channels per conv group, 2 blocks each
    x = RNG.integers(0, 256, x_t.shape).astype(np.int32)
    attrs_float = {"stride": [2, 1], "pad": [1, 0, 1, 2], "dilation": [1, 1], "groups": 2, "pad_mode": "zeros"}
    real = run_reference("conv2d", [dequantize(x, x_t), dequantize(w, w_t)], attrs_float)[0]
    scale, zp = params_from_range(real.min(), real.max(), "u8", symmetric=False)
    out = per_tensor("u8", real.shape, scale, zp)
    attrs = {**attrs_float, **block_requant(x_t, w_t, float(scale)), "rounding": "half_even", "clamp": [0, 255]}
    got = run_node(node_of("qconv2d", [(x_t, x), (w_t, w)], attrs, out), [x, w])[0]
    steps = np.abs(dequantize(got, out) - real) / scale
    assert steps.max() <= 0.5 + 1e-3, steps.max()  # one rounding: the requantization is exact to 2^-30


def _linear_case(**changes):
    x_t = per_tensor("u8", (2, 8), 0.02, 0)
    w_t, w = grouped_weight((3, 8), 4)
    attrs = {**block_requant(x_t, w_t, 0.05), "rounding": "half_even", "clamp": [-128, 127]}
    attrs.update(changes.pop("attrs", {}))
    x_t = changes.pop("x_t", x_t)
    w_t = changes.pop("w_t", w_t)
    return [(x_t, np.zeros(x_t.shape, np.int32)), (w_t, w)], attrs, per_tensor("i8", (2, 3), 0.05, 0)


@pytest.mark.parametrize("changes,message", [
    ({"attrs": {"multiplier": Dense(np.full(3, 2**30, np.int32))}}, "one integer entry per weight block"),
    ({"attrs": {"shift": Dense(np.full(2, 31, np.int32))}}, "'shift' needs 1 value or one per output channel"),
    ({"w_t": QuantType("i8", "f32", (3, 8), np.ones((1, 8), np.float32), np.zeros((1, 8), np.int32), axis=0,
                       group=3)}, "groups along the reduction axis 1"),
    ({"x_t": per_tensor("i16", (2, 8), 0.02, 0),
      "w_t": QuantType("i16", "f32", (3, 8), np.ones((3, 2), np.float32), np.zeros((3, 2), np.int32), axis=1,
                       group=4)}, "may leave the int32 partial sum"),
])
def test_verifier_rejects(changes, message):
    operands, attrs, out = _linear_case(**changes)
    with pytest.raises(VerifyError, match=message):
        node_of("qlinear", operands, attrs, out)
