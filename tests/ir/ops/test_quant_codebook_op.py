"""qcodebook_conv2d: equals qconv2d on the weight its codebook and indices stand for,
and its operands are checked with errors that say what is wrong."""
import numpy as np
import pytest

from qcompiler.ir import Graph, verify
from qcompiler.ir.dense import Dense
from qcompiler.ir.errors import VerifyError
from qcompiler.ir.types import QuantType, TensorType, tensor_type_of
from qcompiler.numerics.fixed_point import quantize_multiplier
from qcompiler.runtime.reference import run_node

RNG = np.random.default_rng(2)
WINDOW = {"stride": [2, 1], "pad": [1, 0, 1, 2], "groups": 2}


def qtype(storage, shape, scale=0.05, zp=0):
    return QuantType(storage, "f32", shape, np.float32(scale), np.int32(zp))


def attrs(channels):
    mult, shift = quantize_multiplier(np.exp(RNG.uniform(-9, -5, channels)))
    return {**WINDOW, "multiplier": Dense(mult), "shift": Dense(shift), "rounding": "half_even", "clamp": [3, 250]}


def graph(op, operands, attrs_, out_type):
    g = Graph(op)
    values = [g.add_input("x", operands[0][0])] + [g.constant(a, name=f"c{i}", type=t)
                                                    for i, (t, a) in enumerate(operands[1:])]
    g.set_outputs([g.add(op, values, attrs_, name="y", output_types=[out_type]).output])
    verify(g)
    return g.find("y").producer


def test_equals_qconv2d_on_the_materialized_weight():
    x_t = qtype("u8", (2, 4, 7, 6), zp=121)
    codebook = RNG.integers(-32, 32, (8, 3, 3)).astype(np.int8)
    indices = RNG.integers(0, 8, (6, 2)).astype(np.uint8)
    bias = RNG.integers(-3000, 3000, 6).astype(np.int32)
    out_t, a = qtype("u8", (2, 6, 4, 6), zp=7), attrs(6)
    bias_t = TensorType("i32", (6,))
    node = graph("qcodebook_conv2d", [(x_t, None), (qtype("i8", (8, 3, 3)), codebook),
                                      (TensorType("u8", (6, 2)), indices), (bias_t, bias)], a, out_t)
    weight = codebook[indices]
    dense = graph("qconv2d", [(x_t, None), (qtype("i8", weight.shape), weight), (bias_t, bias)], a, out_t)
    x = RNG.integers(0, 256, x_t.shape).astype(np.int32)
    got = run_node(node, [x, codebook, indices, bias])[0]
    want = run_node(dense, [x, weight, bias])[0]
    assert 0 < np.count_nonzero(got - 3) and (got >= 3).all() and (got <= 250).all()
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("codebook_t, indices, message", [
    (qtype("i8", (4, 3, 3), zp=1), np.zeros((6, 2), np.uint8), "'codebook' must be .* with zero point 0"),
    (qtype("i8", (4, 9)), np.zeros((6, 2), np.uint8), r"'codebook' must be \[K, kh, kw\]"),
    (qtype("i16", (4, 3, 3)), np.zeros((6, 2), np.uint8), "this op takes 2..8-bit storage"),
    (qtype("i8", (4, 3, 3)), np.zeros((6, 2), np.float32), "'indices' must be integers"),
    (qtype("i8", (4, 3, 3)), np.full((6, 2), 4, np.uint8), r"indices outside \[0, 3\]"),
])
def test_bad_operands_are_named(codebook_t, indices, message):
    codebook = np.zeros(codebook_t.shape, np.int16 if codebook_t.storage == "i16" else np.int8)
    with pytest.raises(VerifyError, match=message):
        graph("qcodebook_conv2d", [(qtype("u8", (1, 4, 7, 6)), None), (codebook_t, codebook),
                                   (tensor_type_of(indices), indices)],
              attrs(6), qtype("u8", (1, 6, 4, 6)))
