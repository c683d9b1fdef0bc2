"""dequantize_kernel: the per-tensor run, runs of `inner` per channel and rows along the
parameters (last axis, per group) give the reference's floats bit for bit, storage up to
i32 included (where the reference leaves float32 and takes the float64 product)."""
import numpy as np
import pytest

from numba_cases import one_node, qtype, storage
from qcompiler.backends.numba.kernels.requant import dequantize_kernel
from qcompiler.backends.numba.ops import INTEGER_STEPS
from qcompiler.ir.types import QuantType, f32
from qcompiler.runtime.reference import run_node

SHAPE = (3, 4, 5, 6)


def scales(rng, n):
    return rng.uniform(1e-4, 3.0, n).astype(np.float32)


def grouped(rng):
    scale = scales(rng, 3 * 2 * 5 * 6).reshape(3, 2, 5, 6)  # groups of 2 along axis 1
    zp = rng.integers(-8, 8, scale.shape).astype(np.int32)
    return QuantType("i4", "f32", SHAPE, scale, zp, 1, 2)


def layouts(rng):
    return {
        "tensor_u8": qtype("u8", SHAPE, zp=131, scale=0.0371),
        "channel_axis0_i8": qtype("i8", SHAPE, zp=rng.integers(-5, 5, 3), scale=scales(rng, 3), axis=0),
        "channel_axis1_u8": qtype("u8", SHAPE, zp=rng.integers(0, 255, 4), scale=scales(rng, 4), axis=1),
        "channel_last_axis_i16": qtype("i16", SHAPE, zp=rng.integers(-900, 900, 6), scale=scales(rng, 6), axis=3),
        "group_i4": grouped(rng),
        "tensor_i32": qtype("i32", SHAPE, zp=-(2**30) - 7, scale=0.0123),
        "channel_i32": qtype("i32", SHAPE, zp=rng.integers(-(2**31), 2**31 - 1, 4), scale=scales(rng, 4), axis=1),
    }


@pytest.mark.parametrize("name", list(layouts(np.random.default_rng(0))))
def test_dequantize_matches_the_reference_bit_for_bit(name):
    rng = np.random.default_rng(0)
    t = layouts(rng)[name]
    q = storage(rng, t)
    node = one_node("dequantize", [(t, None)], {}, f32(*SHAPE))
    want = run_node(node, [q])[0]
    got = INTEGER_STEPS["dequantize"](node)([q])[0]
    assert got.dtype == want.dtype == np.float32
    np.testing.assert_array_equal(got.view(np.int32), want.view(np.int32))


@pytest.mark.parametrize("p,inner", [(1, 1), (7, 1), (7, 5), (1, 35)])
def test_each_element_takes_parameter_i_over_inner_mod_p(p, inner):
    """The flat layout contract of the kernel, in numpy's float64 product rounded to float32."""
    rng = np.random.default_rng(1)
    n = 3 * p * inner
    q = rng.integers(-(2**31), 2**31 - 1, n).astype(np.int32)
    scale, zp = scales(rng, p), rng.integers(-(2**31), 2**31 - 1, p).astype(np.int32)
    c = (np.arange(n) // inner) % p
    want = ((q.astype(np.int64) - zp[c]) * scale[c].astype(np.float64)).astype(np.float32)
    got = np.empty(n, np.float32)
    dequantize_kernel(q, scale, zp, inner, got)
    np.testing.assert_array_equal(got.view(np.int32), want.view(np.int32))


def test_an_empty_tensor_dequantizes_to_an_empty_one():
    got = np.empty(0, np.float32)
    dequantize_kernel(np.empty(0, np.int8), np.ones(4, np.float32), np.zeros(4, np.int32), 3, got)
    assert got.size == 0
