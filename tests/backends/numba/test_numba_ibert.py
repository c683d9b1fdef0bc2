"""The I-BERT kernels on the Numba backend equal their references bit for bit: 8- and
16-bit inputs, masked and fully masked softmax rows, LayerNorm rows with outlier
channels, constant rows and i32 extremes."""
import numpy as np
import pytest

from qcompiler.backends.numba import NumbaExecutor
from qcompiler.ir.core import Graph
from qcompiler.ir.types import QuantType, TensorType
from qcompiler.runtime.reference import run_graph


def q(storage, scale, zp, shape):
    return QuantType(storage, "f32", shape, np.float32(scale), zp)


def kernel_graph(op, in_type, out_type, extra=(), masked=False):
    g = Graph(op)
    x = g.add_input("x", TensorType("f32", in_type.shape))
    inputs = [g.add("quantize", [x], output_types=[in_type]).output]
    if masked:
        inputs.append(g.add_input("keep", TensorType("bool", in_type.shape)))
    inputs += [g.constant(np.asarray(a, np.float32)) for a in extra]
    y = g.add(op, inputs, output_types=[out_type]).output
    g.set_outputs([g.add("dequantize", [y], output_types=[TensorType("f32", in_type.shape)]).output])
    return g


def same(g, *args):
    (want,) = run_graph(g, list(args))
    ex = NumbaExecutor(g)
    assert ex.fallback_nodes == []
    np.testing.assert_array_equal(ex(list(args))[0], want)


@pytest.mark.parametrize("storage, scale", [("u8", 0.08), ("i16", 2e-4)])
def test_softmax_with_masks(storage, scale):
    rng = np.random.default_rng(0)
    shape = (3, 4, 24)
    x = (rng.standard_normal(shape) * 3).astype(np.float32)
    keep = rng.random(shape) > 0.3
    keep[0, 0] = False
    g = kernel_graph("ibert_softmax", q(storage, scale, 3 if storage == "u8" else 0, shape),
                     q("u8", 1 / 255, 0, shape), masked=True)
    same(g, x, keep)
    same(kernel_graph("ibert_softmax", q(storage, scale, 0, shape), q("i8", 1 / 255, -128, shape)), x)


@pytest.mark.parametrize("storage, scale, zp", [("u8", 0.04, 70), ("i8", 0.05, 0), ("i16", 3e-4, 5)])
def test_gelu(storage, scale, zp):
    x = np.linspace(-9, 9, 4000, dtype=np.float32).reshape(2, 2000)
    same(kernel_graph("ibert_gelu", q(storage, scale, zp, x.shape), q("u8", 0.05, 4, x.shape)), x)


def test_layer_norm_rows():
    rng = np.random.default_rng(1)
    channels = 96
    x = (rng.standard_normal((40, channels)) + rng.standard_normal((40, 1)) * 4).astype(np.float32)
    x[:, 5] *= 90
    x[3] = 2.0   # a constant row
    x[4] = 0.0
    x[5, ::2], x[5, 1::2] = 1e6, -1e6  # at the i32 limits (saturated by the quantize)
    gamma, beta = rng.uniform(0.5, 1.5, channels), rng.standard_normal(channels) * 0.1
    gamma[5] *= 60
    wide = q("i32", np.abs(x[:3]).max() / 2**20, 0, x.shape)
    same(kernel_graph("ibert_layer_norm", wide, q("i32", 200 / 2**20, 0, x.shape), (gamma, beta)), x)
    same(kernel_graph("ibert_layer_norm", q("u8", 0.5, 128, x.shape), q("i8", 0.05, 0, x.shape)), x)
