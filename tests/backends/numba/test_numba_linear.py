"""qlinear / qmatmul on the Numba kernel vs the op's numpy reference, integer for integer."""
import numpy as np
import pytest

from numba_cases import ROUNDINGS, compare, one_node, qtype, requant_attrs, storage
from qcompiler.ir.registry import infer_types


def _typical_real(k, x_t, w_t):
    typical = np.sqrt(k) * (x_t.qmax - x_t.qmin) * (w_t.qmax - w_t.qmin) / 12
    return 10 / typical, 60 / typical


def _run(op, operands, attrs, rng):
    plain = infer_types(op, [t for t, _ in operands], attrs)[0]
    node = one_node(op, operands, attrs, qtype("i8", plain.shape, zp=-3))
    out = compare(node, [storage(rng, t) if c is None else c for t, c in operands])[0]
    assert len(np.unique(out)) > min(3, out.size - 1), "the case should produce varied outputs, not a constant"
    return out


@pytest.mark.parametrize("rounding", ROUNDINGS)
@pytest.mark.parametrize("w_storage,x_shape,per_channel", [
    ("i8", (5, 33), True), ("i4", (2, 3, 17), True), ("i2", (4, 9), False), ("u8", (3, 16), False),
    ("b1", (4, 40), True),
])
def test_qlinear_matches_reference(w_storage, x_shape, per_channel, rounding):
    rng = np.random.default_rng(len(x_shape) * 7 + x_shape[-1])
    k, n = x_shape[-1], 6
    x_t = qtype("u8", x_shape, zp=77)
    w_t = qtype(w_storage, (n, k), zp=100 if w_storage == "u8" else 0, axis=0 if per_channel else None)
    b_t = qtype("i32", (n,), scale=1e-3)
    attrs = {**requant_attrs(rng, n if per_channel else 1, rounding, _typical_real(k, x_t, w_t)), "clamp": [-128, 127]}
    bias = rng.integers(-3000, 3000, n).astype(np.int32)
    _run("qlinear", [(x_t, None), (w_t, storage(rng, w_t)), (b_t, bias)], attrs, rng)


def test_qlinear_with_runtime_weights_and_no_bias():
    rng = np.random.default_rng(11)
    x_t, w_t = qtype("i8", (3, 20), zp=-100), qtype("i8", (4, 20))
    attrs = {**requant_attrs(rng, 1, "half_even", _typical_real(20, x_t, w_t)), "clamp": [-128, 127]}
    _run("qlinear", [(x_t, None), (w_t, None)], attrs, rng)


@pytest.mark.parametrize("a_shape,b_shape", [
    ((4, 7), (7, 5)), ((2, 3, 4, 6), (6, 5)), ((2, 1, 3, 6), (4, 6, 5)), ((6,), (6, 5)), ((3, 6), (6,)),
    ((2, 3, 6), (6,)),
])
def test_qmatmul_broadcasting_matches_reference(a_shape, b_shape):
    rng = np.random.default_rng(len(a_shape) + 10 * len(b_shape))
    a_t, b_t = qtype("u8", a_shape, zp=128), qtype("i8", b_shape, zp=3)
    attrs = {**requant_attrs(rng, 1, "half_away", _typical_real(a_shape[-1], a_t, b_t)), "clamp": [-128, 127]}
    _run("qmatmul", [(a_t, None), (b_t, None)], attrs, rng)


@pytest.mark.parametrize("b_storage", ["i8", "i4"])
def test_qmatmul_constant_right_operand_per_column(b_storage):
    rng = np.random.default_rng(12)
    a_t, b_t = qtype("u8", (2, 5, 12), zp=9), qtype(b_storage, (12, 7), axis=1)
    attrs = {**requant_attrs(rng, 7, "half_up", _typical_real(12, a_t, b_t)), "clamp": [-100, 100]}
    _run("qmatmul", [(a_t, None), (b_t, storage(rng, b_t))], attrs, rng)


def test_qlinear_int64_accumulators_when_int32_cannot_be_proven():
    """i16 activations over 600 inputs could reach 600·65535·127 > 2^31: the kernel
    accumulates in int64 (and still matches the reference on in-range data)."""
    rng = np.random.default_rng(13)
    x_t, w_t = qtype("i16", (5, 600), zp=-1000), qtype("i8", (3, 600))
    attrs = {**requant_attrs(rng, 1, "half_away", (1e-7, 3e-7)), "clamp": [-128, 127]}
    _run("qlinear", [(x_t, None), (w_t, np.full((3, 600), 127, np.int32))], attrs, rng)
