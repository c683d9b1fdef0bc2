"""quantize, dequantize, requantize, qlut, qadd and qmul on the Numba kernels vs their
numpy references (bit for bit, floats included)."""
import numpy as np
import pytest

from numba_cases import ROUNDINGS, compare, one_node, qtype, requant_attrs, storage
from qcompiler.backends.numba.ops import INTEGER_STEPS
from qcompiler.ir.dense import Dense
from qcompiler.ir.types import QuantType, f32
from qcompiler.runtime.reference import ExecutionError, run_node


def _float_input(rng, shape):
    x = rng.normal(0, 3, shape).astype(np.float32)
    x.flat[:4] = [0.025, -0.075, 1e9, -1e9]  # exact ties of scale 0.05, and saturation
    return x


@pytest.mark.parametrize("out_type", [
    qtype("u8", (2, 3, 5), zp=128), qtype("i4", (2, 3, 5), zp=-2), qtype("i8", (2, 3, 5), scale=[.01, .05, .1], axis=1),
    QuantType("i8", "f32", (2, 3, 4), np.float32([[[.02, .05]], [[.1, .2]]]), np.zeros((2, 1, 2), np.int32), 2, 2),
    qtype("b1", (2, 3, 5)),
], ids=["u8", "i4", "per_channel", "per_group", "b1"])
def test_quantize_and_dequantize_match_reference(out_type):
    rng = np.random.default_rng(0)
    x = _float_input(rng, out_type.shape)
    q = compare(one_node("quantize", [(f32(*out_type.shape), None)], {}, out_type), [x])[0]
    back = one_node("dequantize", [(out_type, None)], {}, f32(*out_type.shape))
    want = run_node(back, [q])[0]
    got = INTEGER_STEPS["dequantize"](back)([q])[0]
    assert got.dtype == want.dtype == np.float32
    np.testing.assert_array_equal(got.view(np.int32), want.view(np.int32))


def test_quantize_divides_in_float32_like_numpy():
    """Near-ties where x/scale rounds differently in f32 and f64: the f32 quotient wins."""
    rng = np.random.default_rng(5)
    scale = np.float32(0.0370001)
    x = ((rng.integers(-100, 100, 20000) + 0.5) * np.float64(scale)).astype(np.float32)
    x = np.nextafter(x, rng.choice([-np.inf, np.inf], x.size).astype(np.float32))
    x = x[np.rint(x / scale) != np.rint(x.astype(np.float64) / np.float64(scale))]
    assert x.size > 100
    out_t = qtype("i16", x.shape, scale=scale)
    compare(one_node("quantize", [(f32(*x.shape), None)], {}, out_t), [x])


@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_requantize_matches_reference(rounding):
    rng = np.random.default_rng(1)
    x_t = qtype("i16", (4, 50), zp=-1000)
    node = one_node("requantize", [(x_t, None)], requant_attrs(rng, 1, rounding, (0.01, 0.05)),
                    qtype("u8", (4, 50), zp=30))
    out = compare(node, [storage(rng, x_t)])[0]
    assert out.min() == 0 and out.max() == 255


@pytest.mark.parametrize("storage_type", ["u8", "i8", "i4"])
def test_qlut_matches_reference(storage_type):
    rng = np.random.default_rng(2)
    x_t = qtype(storage_type, (3, 40))
    table = rng.integers(-128, 128, x_t.qmax - x_t.qmin + 1).astype(np.int32)
    compare(one_node("qlut", [(x_t, None)], {"table": Dense(table)}, qtype("i8", (3, 40))), [storage(rng, x_t)])


def test_qlut_rejects_storage_outside_the_table():
    x_t = qtype("i4", (4,))
    table = np.arange(16, dtype=np.int32)
    node = one_node("qlut", [(x_t, None)], {"table": Dense(table)}, qtype("i8", (4,)))
    with pytest.raises(ExecutionError, match="qlut"):
        INTEGER_STEPS["qlut"](node)([np.array([0, 1, 2, 9], np.int32)])


@pytest.mark.parametrize("rounding", ROUNDINGS)
@pytest.mark.parametrize("a_shape,b_shape", [((2, 3, 4), (2, 3, 4)), ((2, 3, 4), (3, 1)), ((1,), (5, 2))])
def test_qadd_matches_reference(a_shape, b_shape, rounding):
    rng = np.random.default_rng(3)
    a_t, b_t = qtype("u8", a_shape, zp=200), qtype("i8", b_shape, zp=-128)
    attrs = {**requant_attrs(rng, 1, rounding, (0.2, 0.9), "multiplier_a"), "clamp": [0, 200]}
    attrs["multiplier_b"] = requant_attrs(rng, 1, rounding, (0.2, 0.9))["multiplier"]
    out_shape = np.broadcast_shapes(a_shape, b_shape)
    node = one_node("qadd", [(a_t, None), (b_t, None)], attrs, qtype("u8", out_shape, zp=100))
    compare(node, [storage(rng, a_t), storage(rng, b_t)])


@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_qmul_matches_reference(rounding):
    rng = np.random.default_rng(4)
    a_t, b_t = qtype("u8", (4, 30), zp=128), qtype("u8", (30,), zp=5)
    attrs = {**requant_attrs(rng, 1, rounding, (1e-3, 1e-2)), "clamp": [-128, 127]}
    compare(one_node("qmul", [(a_t, None), (b_t, None)], attrs, qtype("i8", (4, 30))),
            [storage(rng, a_t), storage(rng, b_t)])


def test_qmul_overflow_is_an_error_like_the_reference():
    a_t = qtype("i16", (2,), zp=32767)  # centred values reach -65535
    attrs = {"multiplier": Dense(np.int32([2**30])), "shift": Dense(np.int32([40])), "rounding": "half_even",
             "clamp": [-128, 127]}
    node = one_node("qmul", [(a_t, None), (a_t, None)], attrs, qtype("i8", (2,)))
    big = np.array([-32768, 3], np.int32)
    with pytest.raises(ExecutionError, match="outside int32"):
        run_node(node, [big, big])
    with pytest.raises(ExecutionError, match=r"'qmul' \(%y\).*outside int32"):
        INTEGER_STEPS["qmul"](node)([big, big])
