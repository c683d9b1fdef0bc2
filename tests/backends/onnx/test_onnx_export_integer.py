"""The `integer` form spells our arithmetic out: run in onnxruntime, every integer value of
a lowered graph (final outputs and every intermediate storage `v:q`) equals the
reference interpreter's exactly; the rounding shift matches fixed_point.py bit for bit
in all three modes over the whole int64 range it is used on.

ONNX Runtime's u8 x s8 products are exact on ARM and on x86 with VNNI; on x86 with AVX2
only they saturate pairs of products at int16, which the x86-avx2 target avoids with
7-bit weights. Cases with full 8-bit weights therefore run only where products are exact.
"""
import numpy as np
import onnx_ir as ir
import pytest

from qcompiler.backends.onnx import to_onnx
from qcompiler.backends.onnx.exporter import Exporter
from qcompiler.backends.onnx.integer_arith import requantize, rounding_shift
from qcompiler.ir import Graph, verify
from qcompiler.ir.dense import Dense
from qcompiler.ir.types import QuantType, TensorType, f32
from qcompiler.numerics import fixed_point

from onnx_export_helpers import run_onnx
from onnx_export_quantized import digits, digits_graph, has_vnni, mixed_graph, normal, reference_storage

EXACT_PRODUCTS = pytest.mark.skipif(not has_vnni(), reason="u8 x s8 pair sums saturate on this x86 CPU (no VNNI)")


def assert_storage_equal(graph, model, feeds) -> None:
    outputs, storage = reference_storage(graph, feeds)
    got = run_onnx(model, feeds, [f"{name}:q" for name in storage])
    for name, want in storage.items():
        diff = got[f"{name}:q"].astype(np.int64) - want
        assert not diff.any(), f"%{name}: {np.count_nonzero(diff)} of {diff.size} differ (max {np.abs(diff).max()})"
    for v, want in zip(graph.outputs, outputs):
        np.testing.assert_array_equal(got[v.name], want) if isinstance(v.type, QuantType) else \
            np.testing.assert_allclose(got[v.name], want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("target", ["x86-avx2", pytest.param("generic", marks=EXACT_PRODUCTS)])
def test_digits_cnn_exact(target):
    graph = digits_graph(target, lower=True)
    model = to_onnx(graph, "integer")
    assert {"ConvInteger", "MatMulInteger"} <= {n.op_type for n in model.graph.node}
    assert not {"QLinearConv", "QGemm"} & {n.op_type for n in model.graph.node}
    assert_storage_equal(graph, model, {"x": digits()[2]})


@pytest.mark.parametrize("target,options", [
    ("x86-avx2", ""),  # u8 activations, 7-bit weights, half_even
    pytest.param("armv8", "", marks=EXACT_PRODUCTS),  # i8 activations, half_away
    pytest.param("generic", "weights=i4,acts=i4", marks=EXACT_PRODUCTS),
    pytest.param("generic", "granularity=tensor", marks=EXACT_PRODUCTS),
    pytest.param("generic", "granularity=group:4", marks=EXACT_PRODUCTS),  # one ConvInteger group per weight block
])
def test_every_lowered_op_exact(target, options):
    graph = mixed_graph(target, lower=True, quantize_options=options)
    ops = set(graph.op_counts())
    assert {"qconv2d", "qlinear", "qmatmul", "qadd", "qmul", "qavg_pool2d", "qglobal_avg_pool", "qlut",
            "dequantize", "concat", "max_pool2d"} <= ops
    assert_storage_equal(graph, to_onnx(graph, "integer"), {"x": normal(3, 4, 8, 8)})


def shift_model(build, x_shape, out_dtype="i64") -> object:
    """A model from int64 input `x` to whatever `build(ctx, x)` makes of it."""
    ctx = Exporter(Graph("arith"), "integer", {"": 21})
    x = ctx.b.add_input("x", TensorType("i64", x_shape))
    ctx.b.add_output(build(ctx, x), "y", TensorType(out_dtype, x_shape))
    return ir.serde.serialize_model(ctx.b.model())


@pytest.mark.parametrize("mode", fixed_point.ROUNDING_MODES)
def test_rounding_shift_matches_fixed_point(mode):
    rng = np.random.default_rng(5)
    shifts = np.arange(63, dtype=np.int64).reshape(-1, 1)
    unit = np.left_shift(np.int64(1), shifts)
    ties = rng.integers(-2**20, 2**20, (63, 8)) * unit + np.where(shifts > 0, unit // 2, 0)
    near = np.concatenate([ties - 1, ties + 1, -ties], axis=1)
    x = np.concatenate([ties, near, rng.integers(-2**62, 2**62, (63, 16))], axis=1)
    x = np.clip(x, -2**62, 2**62 - 1)
    model = shift_model(lambda ctx, v: rounding_shift(ctx, v, shifts, mode), x.shape)
    got = run_onnx(model, {"x": x})["y"]
    np.testing.assert_array_equal(got, fixed_point.rounding_shift(x, shifts, mode))


@pytest.mark.parametrize("mode", fixed_point.ROUNDING_MODES)
def test_requantize_matches_fixed_point(mode):
    rng = np.random.default_rng(6)
    acc = np.concatenate([rng.integers(-2**31, 2**31, (6, 40)), np.full((6, 1), -2**31), np.full((6, 1), 2**31 - 1)],
                         axis=1)
    multiplier = rng.integers(2**30, 2**31, 6)
    shift = np.array([0, 1, 31, 40, 62, 63])
    out = QuantType("i8", "f32", acc.shape, np.float32(1), np.int32(-3))
    model = shift_model(lambda ctx, v: requantize(ctx, v, out, multiplier, shift, mode, [-100, 90], rank=2, axis=0),
                        acc.shape, "i8")
    got = run_onnx(model, {"x": acc})["y"]
    want = fixed_point.requantize(acc, multiplier.reshape(-1, 1), shift.reshape(-1, 1), -3, -100, 90, mode)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("mode", fixed_point.ROUNDING_MODES)
def test_requantize_op_on_16_bit_storage(mode):
    """A requantize node from i16 (INT16 QuantizeLinear, opset 21) to u8: every input value."""
    g = Graph("requant")
    x = g.add_input("x", f32(2**16))
    wide = QuantType("i16", "f32", (2**16,), np.float32(1.0), np.int32(17))
    narrow = QuantType("u8", "f32", (2**16,), np.float32(97.0), np.int32(128))
    q = g.add("quantize", [x], output_types=[wide], name="q").output
    multiplier, shift = fixed_point.quantize_multiplier(np.array([1 / 97.0]))
    r = g.add("requantize", [q], {"multiplier": Dense(multiplier), "shift": Dense(shift), "rounding": mode},
              output_types=[narrow], name="r").output
    g.set_outputs([r])
    verify(g)
    model = to_onnx(g, "integer")
    assert model.opset_import[0].version == 21
    assert_storage_equal(g, model, {"x": np.arange(-2**15, 2**15, dtype=np.float32) - 17})
