"""The integer form of group-wise products (integer_groups.py) on one-node graphs: in
onnxruntime, every stored result equals the reference interpreter's — conv1d, a grouped
strided conv2d with block zero points and a reflect pad, linear on a 3-D input, and
matmul with a 1-D left operand."""
import numpy as np
import pytest

from qcompiler.backends.onnx import to_onnx
from qcompiler.ir import Graph, verify
from qcompiler.ir.dense import Dense
from qcompiler.ir.registry import run_reference
from qcompiler.ir.types import QuantType, TensorType
from qcompiler.numerics.affine import dequantize, params_from_range, quantize
from qcompiler.numerics.fixed_point import quantize_multipliers_per_row
from qcompiler.runtime.reference import run_graph

from onnx_export_helpers import run_onnx
from onnx_export_quantized import has_vnni

RNG = np.random.default_rng(3)
pytestmark = pytest.mark.skipif(not has_vnni(), reason="u8 x s8 pair sums saturate on this x86 CPU (no VNNI)")


def grouped(shape, group, axis, asymmetric):
    blocks = list(shape)
    blocks[axis] //= group
    zp = RNG.integers(-2, 3, blocks) if asymmetric else np.zeros(blocks)
    t = QuantType("i8", "f32", shape, RNG.uniform(0.005, 0.05, blocks).astype(np.float32), zp.astype(np.int32),
                  axis=axis, group=group)
    return t, RNG.integers(-100, 101, shape).astype(np.int32)


def graph_of(float_op, x_shape, w_t, w, attrs, channel_axis, bias=False):
    """x (float) -> quantize (u8) -> the integer product with constant weight -> i8 result."""
    x = RNG.uniform(-1, 2, x_shape).astype(np.float32)
    x_t = QuantType("u8", "f32", x_shape, np.float32(3 / 255), np.int32(85))
    real = run_reference(float_op, [dequantize(quantize(x, x_t), x_t), dequantize(w, w_t)], attrs)[0]
    scale, zp = params_from_range(real.min(), real.max(), "i8", symmetric=False)
    out = QuantType("i8", "f32", real.shape, scale, zp)
    m = np.moveaxis(x_t.scale.array * w_t.scale.array.astype(np.float64) / scale, channel_axis, 0)
    mult, shift = quantize_multipliers_per_row(m.reshape(m.shape[0], -1))
    g = Graph("g")
    xq = g.add("quantize", [g.add_input("x", TensorType("f32", x_shape))], name="xq", output_types=[x_t]).output
    operands = [xq, g.constant(w, name="w", type=w_t)]
    if bias:
        c = w_t.shape[0]
        operands.append(g.constant(RNG.integers(-3000, 3000, c).astype(np.int32), name="b",
                                   type=QuantType("i32", "f32", (c,), np.ones(c, np.float32), np.zeros(c, np.int32),
                                                  axis=0)))
    q_op = {"conv1d": "qconv1d", "conv2d": "qconv2d", "linear": "qlinear", "matmul": "qmatmul"}[float_op]
    requant = {"multiplier": Dense(np.ascontiguousarray(np.moveaxis(mult.reshape(m.shape), 0, channel_axis))),
               "shift": Dense(shift), "rounding": "half_away", "clamp": [-128, 127]}
    g.set_outputs(g.add(q_op, operands, {**attrs, **requant}, name="y", output_types=[out]).outputs)
    verify(g)
    return g, x


CONV = {"stride": [1], "pad": [1, 1], "dilation": [1], "groups": 1, "pad_mode": "zeros"}
CASES = {
    "conv1d": lambda: ("conv1d", (2, 6, 9), *grouped((4, 6, 3), 3, 1, True), {**CONV, "stride": [2]}, 0, True),
    "conv2d": lambda: ("conv2d", (1, 8, 7, 7), *grouped((6, 4, 3, 3), 2, 1, True),
                       {"stride": [2, 1], "pad": [1, 1, 1, 1], "dilation": [1, 1], "groups": 2,
                        "pad_mode": "reflect"}, 0, True),
    "linear": lambda: ("linear", (2, 3, 16), *grouped((5, 16), 4, 1, False), {}, 0, True),
    "matmul": lambda: ("matmul", (12,), *grouped((12, 5), 4, 0, False), {}, 1, False),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_integer_form_equals_the_reference(case):
    graph, x = graph_of(*CASES[case]())
    model = to_onnx(graph, "integer")
    got = run_onnx(model, {"x": x}, ["y:q"])["y:q"]
    _, env = run_graph(graph, [x], keep=True)
    want = quantize(env["y"], graph.outputs[0].type)
    assert got.shape == want.shape
    diff = got.astype(np.int64) - want
    assert not diff.any(), f"{np.count_nonzero(diff)} of {diff.size} differ (max {np.abs(diff).max()})"
    assert len(np.unique(want)) > 4, "the output range is exercised"
