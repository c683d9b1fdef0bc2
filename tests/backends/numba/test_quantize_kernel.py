"""quantize_kernel: the per-tensor run, runs of `inner` per channel and rows along the
parameters (last axis, per group) give the reference's storage integers exactly: its f32
quotient rounded half to even, zero point added and clamped (saturation at infinities
included), for every storage down to b1, i32 included."""
import numpy as np
import pytest

from numba_cases import one_node, qtype
from test_dequantize_kernel import SHAPE, layouts, scales
from qcompiler.backends.numba.kernels.requant import quantize_kernel
from qcompiler.backends.numba.ops import INTEGER_STEPS
from qcompiler.ir.types import QuantType, f32
from qcompiler.runtime.reference import run_node

EXTREMES = np.float32([0.0, -0.0, np.inf, -np.inf, 1e9, -1e9, 3.4e38, -3.4e38])


def quantize_layouts(rng):
    """The dequantize kernel's layouts, narrow and binary storages besides."""
    return {
        **layouts(rng),
        "tensor_u2": qtype("u2", SHAPE, zp=1, scale=0.7),
        "channel_axis2_i2": qtype("i2", SHAPE, zp=rng.integers(-2, 2, 5), scale=scales(rng, 5), axis=2),
        "tensor_b1": qtype("b1", SHAPE),
        "channel_axis1_b1": qtype("b1", SHAPE, zp=rng.integers(-2, 3, 4), scale=scales(rng, 4), axis=1),
        "channel_last_axis_b1": qtype("b1", SHAPE, zp=rng.integers(-2, 3, 6), scale=scales(rng, 6), axis=3),
    }


def floats(rng, t: QuantType):
    """Magnitudes from 1e-4 to 1e6 (inside the range and saturating, for any scale), the
    extremes, and b1's thresholds -zp·s themselves (where the sign flips)."""
    x = (rng.choice([-1, 1], SHAPE) * 10.0 ** rng.uniform(-4, 6, SHAPE)).astype(np.float32)
    x.flat[:EXTREMES.size] = EXTREMES
    if t.storage == "b1" and t.axis is not None:
        along_axis = tuple(slice(None) if d == t.axis else 1 for d in range(len(SHAPE)))
        x[along_axis] = -t.zero_point.array * t.scale.array
    return x


def quantize_node(t: QuantType):
    return one_node("quantize", [(f32(*SHAPE), None)], {}, t)


@pytest.mark.filterwarnings("ignore:overflow encountered in divide:RuntimeWarning")  # the reference's x / s at 3.4e38
@pytest.mark.parametrize("name", list(quantize_layouts(np.random.default_rng(0))))
def test_quantize_matches_the_reference_exactly(name):
    rng = np.random.default_rng(0)
    t = quantize_layouts(rng)[name]
    x = floats(rng, t)
    node = quantize_node(t)
    want = run_node(node, [x])[0]
    got = INTEGER_STEPS["quantize"](node)([x])[0]
    np.testing.assert_array_equal(got.astype(np.int64), want.astype(np.int64))
    assert got.min() == t.qmin and got.max() == t.qmax  # both ends reached: saturation was exercised


@pytest.mark.parametrize("axis", [None, 1, 3], ids=["tensor", "channel_run", "channel_row"])
def test_ties_round_half_to_even(axis):
    """Power-of-two scales make x / s exact, so x = (k + 1/2)·s are exact ties; each goes to
    the even neighbour (numpy's rint), not away from zero nor up."""
    rng = np.random.default_rng(2)
    n = 1 if axis is None else SHAPE[axis]
    scale = np.float32(2.0) ** rng.integers(-6, 3, n)
    t = qtype("i16", SHAPE, zp=-3, scale=scale if axis is not None else scale[0], axis=axis)
    along_axis = [n if d == axis else 1 for d in range(len(SHAPE))]
    half_steps = rng.integers(-200, 200, SHAPE) + 0.5
    x = (half_steps * scale.reshape(along_axis)).astype(np.float32)
    got = INTEGER_STEPS["quantize"](quantize_node(t))([x])[0]
    even = np.where(np.floor(half_steps) % 2 == 0, np.floor(half_steps), np.ceil(half_steps)).astype(np.int64) - 3
    np.testing.assert_array_equal(got.astype(np.int64), even)


@pytest.mark.parametrize("p,inner", [(1, 1), (7, 1), (7, 5), (1, 35)])
def test_each_element_takes_parameter_i_over_inner_mod_p(p, inner):
    """The flat layout contract of the kernel, against numpy's f32 quotient and rint."""
    rng = np.random.default_rng(1)
    n = 20 * p * inner
    x = rng.normal(0, 1000, n).astype(np.float32)
    scale, zp = scales(rng, p), rng.integers(-100, 100, p).astype(np.int32)
    c = (np.arange(n) // inner) % p
    want = np.clip(np.rint(x / scale[c]) + zp[c], -128, 127).astype(np.int8)
    got = np.empty(n, np.int8)
    quantize_kernel(x, scale, zp, inner, -128, 127, False, got)
    np.testing.assert_array_equal(got, want)
    assert (got == -128).any() and (got == 127).any()


def test_an_empty_tensor_quantizes_to_an_empty_one():
    got = np.empty(0, np.uint8)
    quantize_kernel(np.empty(0, np.float32), np.ones(4, np.float32), np.zeros(4, np.int32), 3, 0, 255, False, got)
    assert got.size == 0
