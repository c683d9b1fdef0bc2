"""qconv2d / qconv1d on the Numba kernel vs the op's numpy reference, integer for integer."""
import zlib

import numpy as np
import pytest

from numba_cases import ROUNDINGS, compare, one_node, qtype, requant_attrs, storage
from qcompiler.ir.dense import Dense

# name: (x [N,C,H,W], w [Cout,Cin/g,kh,kw], attrs, x storage/zp, w storage, weight per-channel, bias)
CASES = {
    "3x3_pad1": ((1, 4, 7, 9), (6, 4, 3, 3), {"pad": [1, 1, 1, 1]}, ("u8", 128), "i8", True, True),
    "stride2_odd": ((2, 3, 9, 7), (5, 3, 3, 3), {"stride": [2, 2], "pad": [1, 0, 1, 2]}, ("u8", 3), "i8", False, True),
    "dilation2": ((1, 3, 11, 10), (4, 3, 3, 3), {"dilation": [2, 2], "pad": [2, 2, 2, 2]}, ("i8", -5), "i8", True, False),
    "depthwise": ((1, 8, 6, 6), (8, 1, 3, 3), {"groups": 8, "pad": [1, 1, 1, 1]}, ("u8", 255), "i8", True, True),
    "groups2_stride_2x1": ((1, 4, 8, 5), (6, 2, 2, 3), {"groups": 2, "stride": [2, 1]}, ("u8", 0), "i8", True, True),
    "int4_weights": ((1, 5, 6, 6), (7, 5, 3, 3), {"pad": [1, 1, 1, 1]}, ("u8", 90), "i4", True, True),
    "int2_weights": ((1, 3, 5, 5), (4, 3, 3, 3), {}, ("i8", 0), "i2", True, True),
    "b1_weights": ((1, 4, 6, 6), (5, 4, 3, 3), {"pad": [1, 1, 1, 1]}, ("u8", 100), "b1", True, True),
    "i16_weights": ((1, 3, 5, 5), (4, 3, 3, 3), {"pad": [1, 1, 1, 1]}, ("u8", 60), "i16", True, True),
    "u4_weights_1x1": ((1, 9, 4, 4), (3, 9, 1, 1), {}, ("u8", 17), "u4", False, False),
    "i4_activations": ((1, 3, 6, 6), (4, 3, 3, 3), {"pad": [1, 1, 1, 1]}, ("i4", -8), "i8", True, True),
    "reflect_pad": ((1, 2, 6, 6), (3, 2, 3, 3), {"pad": [1, 1, 1, 1], "pad_mode": "reflect"}, ("u8", 40), "i8",
                    False, True),
}


def _conv_case(rng, name, rounding, real=None, clamp=None):
    x_shape, w_shape, attrs, (x_storage, x_zp), w_storage, per_channel, with_bias = CASES[name]
    x_t = qtype(x_storage, x_shape, zp=x_zp)
    w_t = qtype(w_storage, w_shape, zp=8 if w_storage == "u4" else 0, axis=0 if per_channel else None)
    cout = w_shape[0]
    typical = int(np.sqrt(np.prod(w_shape[1:])) * (x_t.qmax - x_t.qmin) * (w_t.qmax - w_t.qmin) / 12)
    if real is None:  # aim the typical accumulator at a few dozen output steps
        real = (10 / typical, 60 / typical)
    b_t = qtype("i32", (cout,), scale=1e-3)
    out_t = qtype("u8", (1,), zp=7)
    attrs = {**attrs, **requant_attrs(rng, cout if per_channel else 1, rounding, real),
             "clamp": list(clamp or (0, 255))}
    operands = [(x_t, None), (w_t, storage(rng, w_t))]
    if with_bias:
        operands.append((b_t, rng.integers(-2 * typical, 2 * typical, cout).astype(np.int32)))
    return operands, attrs


def _run(op, operands, attrs, rng):
    node = one_node(op, operands, attrs, _result_type(op, operands, attrs))
    args = [storage(rng, t) if c is None else c for t, c in operands]
    return compare(node, args)


def _result_type(op, operands, attrs):
    from qcompiler.ir.registry import infer_types

    plain = infer_types(op, [t for t, _ in operands], attrs)[0]
    return qtype("u8", plain.shape, zp=7)


@pytest.mark.parametrize("rounding", ROUNDINGS)
@pytest.mark.parametrize("name", sorted(CASES))
def test_qconv2d_matches_reference(name, rounding):
    rng = np.random.default_rng(zlib.crc32(f"{name}-{rounding}".encode()))
    operands, attrs = _conv_case(rng, name, rounding)
    out = _run("qconv2d", operands, attrs, rng)[0]
    assert len(np.unique(out)) > 3, "the case should produce varied outputs, not a constant"


_HALF_OF = {  # round(acc / 2) for odd acc, by mode
    "half_away": lambda acc: np.sign(acc) * ((np.abs(acc) + 1) // 2),
    "half_even": lambda acc: np.where((acc // 2) % 2 == 0, acc // 2, acc // 2 + 1),
    "half_up": lambda acc: (acc + 1) // 2,
}


@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_ties_on_negative_accumulators_follow_the_rounding_mode(rounding):
    """A 1x1 conv with weights +1/-1 and M = 2^30·2^-31 = 1/2: every odd accumulator is a
    tie, half of them negative; the result must be the mode's rounding of acc/2."""
    rng = np.random.default_rng(1)
    x_t, w_t = qtype("i8", (1, 1, 8, 8)), qtype("i8", (2, 1, 1, 1))
    attrs = {"multiplier": Dense(np.full(1, 2**30, np.int32)), "shift": Dense(np.full(1, 31, np.int32)),
             "rounding": rounding, "clamp": [0, 255]}
    x, w = storage(rng, x_t), np.array([1, -1], np.int32).reshape(2, 1, 1, 1)
    node = one_node("qconv2d", [(x_t, None), (w_t, w)], attrs, qtype("u8", (1, 2, 8, 8), zp=128))
    out = compare(node, [x, w])[0]
    acc = np.concatenate([x, -x], axis=1).astype(np.int64)
    odd = acc % 2 == 1
    assert odd.sum() > 20 and (acc[odd] < 0).sum() > 10
    np.testing.assert_array_equal(out[odd] - 128, _HALF_OF[rounding](acc[odd]))


def test_saturation_and_fused_clamp():
    rng = np.random.default_rng(2)
    operands, attrs = _conv_case(rng, "int4_weights", "half_away", real=(0.05, 0.2), clamp=(7, 200))
    out = _run("qconv2d", operands, attrs, rng)[0]
    assert out.min() == 7 and out.max() == 200, "large multipliers must saturate at both clamp ends"


def test_runtime_weights_are_packed_per_call():
    rng = np.random.default_rng(3)
    operands, attrs = _conv_case(rng, "int4_weights", "half_even")
    operands[1] = (operands[1][0], None)  # the weight becomes a graph input
    _run("qconv2d", operands, attrs, rng)


def test_without_bias_and_per_tensor_weights_with_zero_point():
    rng = np.random.default_rng(4)
    operands, attrs = _conv_case(rng, "u4_weights_1x1", "half_up")
    _run("qconv2d", operands, attrs, rng)


@pytest.mark.parametrize("w_storage", ["i8", "i4", "i2"])
def test_qconv1d_matches_reference(w_storage):
    rng = np.random.default_rng(5)
    x_t, w_t = qtype("u8", (2, 3, 11), zp=100), qtype(w_storage, (4, 3, 3), axis=0)
    attrs = {"stride": [2], "pad": [2, 1], "dilation": [2], **requant_attrs(rng, 4, "half_even", (1e-3, 1e-2)),
             "clamp": [0, 255]}
    operands = [(x_t, None), (w_t, storage(rng, w_t)), (qtype("i32", (4,)), rng.integers(-500, 500, 4))]
    operands[2] = (operands[2][0], operands[2][1].astype(np.int32))
    _run("qconv1d", operands, attrs, rng)
