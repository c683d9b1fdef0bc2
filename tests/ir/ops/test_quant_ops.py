"""Integer ops against an independent float computation: dequantize -> float op ->
quantize. They must agree within one step everywhere and exactly almost everywhere."""
import re

import numpy as np
import pytest

from qcompiler.ir import Graph, verify
from qcompiler.ir.dense import Dense
from qcompiler.ir.errors import VerifyError
from qcompiler.ir.registry import run_reference
from qcompiler.ir.types import QuantType, TensorType
from qcompiler.numerics.affine import dequantize, params_from_range, quantize
from qcompiler.numerics.fixed_point import ROUNDING_MODES, quantize_multiplier, quantize_multipliers_shared_shift
from qcompiler.runtime.reference import ExecutionError, run_node

RNG = np.random.default_rng(7)


def qtype(storage, shape, scale, zp=0, axis=None):
    return QuantType(storage, "f32", shape, np.asarray(scale, np.float32), np.asarray(zp, np.int32), axis)


def storage(t, rng=RNG):
    return rng.integers(t.qmin, t.qmax + 1, t.shape).astype(np.int32)


def out_type_for(y, storage_name="u8", shape=None):
    scale, zp = params_from_range(y.min(), y.max(), storage_name, symmetric=False)
    return qtype(storage_name, y.shape if shape is None else shape, scale, zp)


def requant(m):
    mult, shift = quantize_multiplier(m)
    return {"multiplier": Dense(np.atleast_1d(mult)), "shift": Dense(np.atleast_1d(shift))}


def run_int(op, operands, attrs, out_type):
    """Build a graph of consts + one node, verify it (inference accepts the declared
    quantized result) and run the node on storage."""
    g = Graph("t")
    values = [g.constant(a, type=t) for a, t in operands]
    node = g.add(op, values, attrs, output_types=[out_type])
    g.set_outputs(node.outputs)
    verify(g)
    return run_node(node, [a for a, _ in operands])[0]


def assert_steps(got, want, min_exact=0.99):
    """Within one step everywhere, exact on at least `min_exact` of the elements."""
    diff = np.abs(got.astype(np.int64) - want.astype(np.int64))
    assert got.shape == want.shape and diff.max() <= 1, f"max difference {diff.max()} steps"
    exact = np.mean(diff == 0)
    assert exact >= min_exact, f"only {exact:.4f} exact"
    return int(np.count_nonzero(diff))


def test_quantize_dequantize_use_the_types():
    x = RNG.normal(size=(3, 5)).astype(np.float32)
    t = qtype("i8", x.shape, 0.02, -3)
    q = run_int("quantize", [(x, TensorType("f32", x.shape))], {}, t)
    assert np.array_equal(q, quantize(x, t))
    tw = qtype("i4", (3, 5), [0.1, 0.2, 0.3], [0, 1, -1], axis=0)
    w = storage(tw)
    assert np.array_equal(run_int("dequantize", [(w, tw)], {}, TensorType("f32", w.shape)), dequantize(w, tw))
    tg = QuantType("i4", "f32", (2, 8), np.array([[0.1, 0.2], [0.3, 0.4]], np.float32), np.zeros((2, 2), np.int32),
                   axis=1, group=4)
    g = storage(tg)
    assert np.array_equal(run_int("dequantize", [(g, tg)], {}, TensorType("f32", g.shape)), dequantize(g, tg))


@pytest.mark.parametrize("mode", ROUNDING_MODES)
def test_requantize(mode):
    t_in, t_out = qtype("u8", (4, 50), 0.031, 100), qtype("i8", (4, 50), 0.047, -5)
    x = storage(t_in)
    got = run_int("requantize", [(x, t_in)], {**requant(0.031 / 0.047), "rounding": mode}, t_out)
    assert_steps(got, quantize(dequantize(x, t_in), t_out))


def test_qlut_is_the_float_op_exactly():
    t_in, t_out = qtype("i8", (6, 40), 0.05, 3), qtype("u8", (6, 40), 1 / 255, 0)
    table = quantize(run_reference("sigmoid", [dequantize(np.arange(-128, 128), t_in)], {})[0], t_out)
    x = storage(t_in)
    got = run_int("qlut", [(x, t_in)], {"table": Dense(table)}, t_out)
    assert np.array_equal(got, quantize(run_reference("sigmoid", [dequantize(x, t_in)], {})[0], t_out))


CONV_CASES = {
    "dense": dict(cin=4, cout=6, groups=1, stride=[1, 1], pad=[1, 1, 1, 1], dilation=[1, 1]),
    "grouped-strided": dict(cin=4, cout=6, groups=2, stride=[2, 1], pad=[2, 0, 1, 1], dilation=[1, 2]),
    "depthwise": dict(cin=5, cout=5, groups=5, stride=[1, 1], pad=[1, 1, 1, 1], dilation=[1, 1]),
}


def _conv_case(c, activation):
    tx = qtype("u8", (2, c["cin"], 9, 9), 0.02, 37)  # nonzero zero point: padding must use it
    w_scale = RNG.uniform(0.01, 0.05, c["cout"]).astype(np.float32)
    tw = qtype("i8", (c["cout"], c["cin"] // c["groups"], 3, 3), w_scale, np.zeros(c["cout"]), axis=0)
    x, w = storage(tx), storage(tw)
    b_real = RNG.normal(size=c["cout"]).astype(np.float32)
    tb = qtype("i32", (c["cout"],), tx.scale.array * w_scale, np.zeros(c["cout"]), axis=0)
    b = quantize(b_real, tb)
    geometry = {k: c[k] for k in ("stride", "pad", "dilation", "groups")}
    y_pre = run_reference("conv2d", [dequantize(x, tx), dequantize(w, tw), dequantize(b, tb)], geometry)[0]
    return tx, tw, tb, x, w, b, geometry, y_pre


@pytest.mark.parametrize("mode", ROUNDING_MODES)
@pytest.mark.parametrize("case", sorted(CONV_CASES))
def test_qconv2d_per_channel_relu6(case, mode):
    tx, tw, tb, x, w, b, geometry, y_pre = _conv_case(CONV_CASES[case], "relu6")
    # the output range reaches past 6, so the fused relu6 bound bites inside the storage range
    t_out = out_type_for(np.array([y_pre.min(), max(y_pre.max(), 8.0)]), shape=y_pre.shape)
    s_out, zp_out = float(t_out.scale.array), int(t_out.zero_point.array)
    clamp = [max(0, zp_out), min(255, zp_out + int(np.rint(6 / s_out)))]
    attrs = {**geometry, **requant(tx.scale.array * tw.scale.array / s_out), "rounding": mode, "clamp": clamp}
    got = run_int("qconv2d", [(x, tx), (w, tw), (b, tb)], attrs, t_out)
    want = quantize(run_reference("relu6", [y_pre], {})[0], t_out)
    assert_steps(got, want)
    assert np.any(got == clamp[0]) and np.any(got == clamp[1])


def test_qconv1d_and_padding_reads_the_zero_point():
    tx = qtype("u8", (1, 3, 12), 0.05, 200)
    tw = qtype("i8", (4, 3, 5), 0.02)
    x, w = storage(tx), storage(tw)
    y = run_reference("conv1d", [dequantize(x, tx), dequantize(w, tw)], {"pad": [2, 2]})[0]
    t_out = out_type_for(y)
    attrs = {"pad": [2, 2], **requant(0.05 * 0.02 / float(t_out.scale.array)), "rounding": "half_even",
             "clamp": [0, 255]}
    got = run_int("qconv1d", [(x, tx), (w, tw)], attrs, t_out)
    assert_steps(got, quantize(y, t_out))


def test_qlinear_per_channel():
    tx = qtype("u8", (5, 3, 16), 0.03, 11)
    tw = qtype("i8", (7, 16), RNG.uniform(0.01, 0.03, 7), np.zeros(7), axis=0)
    x, w = storage(tx), storage(tw)
    y = run_reference("linear", [dequantize(x, tx), dequantize(w, tw)], {"activation": "relu"})[0]
    t_out = out_type_for(y)
    attrs = {**requant(0.03 * tw.scale.array / float(t_out.scale.array)), "rounding": "half_away",
             "clamp": [int(t_out.zero_point.array), 255]}
    assert_steps(run_int("qlinear", [(x, tx), (w, tw)], attrs, t_out), quantize(y, t_out))


@pytest.mark.parametrize("per_column", [False, True])
def test_qmatmul(per_column):
    ta = qtype("i8", (2, 4, 24), 0.04, 3)
    s_b = RNG.uniform(0.01, 0.03, 5) if per_column else 0.02
    tb = qtype("i8", (24, 5), s_b, np.zeros(5) if per_column else 0, axis=1 if per_column else None)
    a, b = storage(ta), storage(tb)
    y = run_reference("matmul", [dequantize(a, ta), dequantize(b, tb)], {})[0]
    t_out = out_type_for(y, "i8")
    attrs = {**requant(0.04 * np.atleast_1d(s_b) / float(t_out.scale.array)), "rounding": "half_even",
             "clamp": [-128, 127]}
    assert_steps(run_int("qmatmul", [(a, ta), (b, tb)], attrs, t_out), quantize(y, t_out))


@pytest.mark.parametrize("mode", ROUNDING_MODES)
def test_qadd_broadcasts(mode):
    ta, tb = qtype("u8", (2, 30, 40), 0.05, 120), qtype("i8", (30, 1), 0.003, -7)
    a, b = storage(ta), storage(tb)
    y = dequantize(a, ta) + dequantize(b, tb)
    t_out = out_type_for(y)
    mults, shift = quantize_multipliers_shared_shift([0.05 / t_out.scale.array, 0.003 / t_out.scale.array])
    attrs = {"multiplier_a": Dense(mults[:1]), "multiplier_b": Dense(mults[1:]), "shift": Dense(np.atleast_1d(shift)),
             "rounding": mode, "clamp": [0, 255]}
    assert_steps(run_int("qadd", [(a, ta), (b, tb)], attrs, t_out), quantize(y, t_out))


def test_qmul():
    ta, tb = qtype("u8", (40, 50), 0.05, 128), qtype("u8", (40, 50), 0.02, 10)
    a, b = storage(ta), storage(tb)
    y = dequantize(a, ta) * dequantize(b, tb)
    t_out = out_type_for(y, "i8")
    attrs = {**requant(0.05 * 0.02 / t_out.scale.array), "rounding": "half_up", "clamp": [-128, 127]}
    assert_steps(run_int("qmul", [(a, ta), (b, tb)], attrs, t_out), quantize(y, t_out))


def test_qavg_pool2d_pads_with_the_zero_point():
    tx = qtype("u8", (2, 3, 11, 11), 0.04, 90)
    x = storage(tx)
    pool = {"kernel": [3, 3], "stride": [2, 2], "pad": [1, 1, 1, 1], "count_include_pad": True}
    y = run_reference("avg_pool2d", [dequantize(x, tx)], pool)[0]
    t_out = out_type_for(y)
    attrs = {**pool, **requant(0.04 / (float(t_out.scale.array) * 9)), "rounding": "half_even"}
    assert_steps(run_int("qavg_pool2d", [(x, tx)], attrs, t_out), quantize(y, t_out))


def test_qglobal_avg_pool():
    tx = qtype("i8", (3, 16, 7, 7), 0.1, -20)
    x = storage(tx, np.random.default_rng(0))  # its own draws: the shared RNG's depend on which tests ran first
    y = run_reference("global_avg_pool", [dequantize(x, tx)], {})[0]
    t_out = out_type_for(y)
    attrs = {**requant(0.1 / (float(t_out.scale.array) * 49)), "rounding": "half_away"}
    # 48 results: a tie rounded away (integer) vs to even (float reference) may differ by a step
    assert_steps(run_int("qglobal_avg_pool", [(x, tx)], attrs, t_out), quantize(y, t_out), min_exact=0.95)


def test_accumulator_overflow_at_run_time_names_the_node():
    tx, tw = qtype("i16", (1, 64, 3, 3), 0.01), qtype("i8", (1, 64, 3, 3), 0.01)
    x, w = np.full(tx.shape, 32767, np.int32), np.full(tw.shape, 127, np.int32)
    attrs = {**requant(0.01), "rounding": "half_even", "clamp": [-128, 127]}
    with pytest.raises(ExecutionError, match="qconv2d.*int32"):
        run_int("qconv2d", [(x, tx), (w, tw)], attrs, qtype("i8", (1, 1, 1, 1), 1.0))


BAD = [
    ("qconv2d", [(np.zeros((1, 2, 3, 3), np.float32), TensorType("f32", (1, 2, 3, 3))),
                 (np.zeros((1, 2, 1, 1), np.int8), qtype("i8", (1, 2, 1, 1), 0.1))],
     {**requant(0.5), "rounding": "half_even", "clamp": [0, 255]}, "operand 'x' must be quantized"),
    ("qlinear", [(np.zeros((2, 4), np.int32), qtype("u8", (2, 4), 0.1)),
                 (np.zeros((3, 4), np.int8), qtype("i8", (3, 4), 0.1))],
     {**requant([0.1, 0.2]), "rounding": "half_even", "clamp": [0, 255]}, "one per output channel (3)"),
    ("qlinear", [(np.zeros((2, 4), np.int32), qtype("u8", (2, 4), 0.1)),
                 (np.zeros((3, 4), np.int8), qtype("i8", (3, 4), [0.1] * 4, [0] * 4, axis=1))],
     {**requant(0.1), "rounding": "half_even", "clamp": [0, 255]}, "per channel only along axis 0"),
    ("qavg_pool2d", [(np.zeros((1, 1, 4, 4), np.int32), qtype("u8", (1, 1, 4, 4), 0.1))],
     {"kernel": [2, 2], "pad": [1, 1, 1, 1], "count_include_pad": False, **requant(0.25), "rounding": "half_even"},
     "must count the full kernel"),
    ("qlut", [(np.zeros((4,), np.int32), qtype("u8", (4,), 0.1))], {"table": Dense(np.zeros(16, np.int32))},
     "256 entries"),
    ("qadd", [(np.zeros((4,), np.int32), qtype("u8", (4,), 0.1)), (np.zeros((4,), np.int32), qtype("u8", (4,), 0.1))],
     {"multiplier_a": Dense(np.array([2**31], np.int64)), "multiplier_b": Dense(np.array([1], np.int32)),
      "shift": Dense(np.array([31], np.int32)), "rounding": "half_even", "clamp": [0, 255]}, "in [0, 2^31)"),
]


@pytest.mark.parametrize("op, operands, attrs, message", BAD, ids=[b[0] + "-" + b[3][:12] for b in BAD])
def test_verifier_rejects_malformed_integer_ops(op, operands, attrs, message):
    g = Graph("bad")
    values = [g.constant(a, type=t) for a, t in operands]
    node = g.add(op, values, attrs, output_types=[qtype("u8", values[0].type.shape, 0.1)])
    g.set_outputs(node.outputs)
    with pytest.raises(VerifyError, match=re.escape(message)):
        verify(g)
