"""The torch executor fake-quantizes minifloat values like the reference, with STE gradients."""
import numpy as np
import pytest
import torch

from qcompiler.ir import Graph, MinifloatType, TensorType
from qcompiler.numerics.minifloat import decode_table, format_of, positive_values
from qcompiler.runtime.reference import run_graph
from qcompiler.runtime.torch import run_torch, to_torch

FORMATS = [dict(format="e4m3", no_nan_inf=True), dict(format="e5m2"), dict(format="e3m2", finite=True),
           dict(format="e2m3", finite=True), dict(format="e2m1", finite=True)]


def _matmul_graph(spec: dict) -> Graph:
    g = Graph("mf")
    x = g.add_input("x", TensorType("f32", (4, 8)))
    w_type = MinifloatType(expressed="f32", shape=(8, 3), axis=1, scale=np.float32([0.05, 0.2, 1.0]), **spec)
    w = g.constant(np.random.default_rng(1).standard_normal((8, 3)).astype(np.float32), name="w", type=w_type,
                   origin="fc.weight")
    act_type = MinifloatType(expressed="f32", shape=(4, 8), scale=0.5, **spec)
    xq = g.add("identity", [x], name="xq", output_types=[act_type]).output
    g.set_outputs([g.add("matmul", [xq, w], name="y").output, xq, w])
    return g


@pytest.mark.parametrize("spec", FORMATS, ids=[s["format"] for s in FORMATS])
def test_torch_matches_the_reference_on_every_code(spec):
    g = _matmul_graph(spec)
    t = g.outputs[1].type
    codes = decode_table(format_of(t))
    finite = codes[np.isfinite(codes)]
    # every representable value, the midpoints between them and random values, scaled onto the activation
    mags = positive_values(format_of(t))
    grid = np.concatenate([finite, (mags[1:] + mags[:-1]) / 2, np.random.default_rng(0).standard_normal(64) * 4])
    x = np.resize(grid * 0.5, (int(np.ceil(grid.size / 32)) * 4, 8)).astype(np.float32)
    for rows in np.split(x, len(x) // 4):
        (y, xq, w), (y_ref, xq_ref, w_ref) = run_torch(g, [rows]), run_graph(g, [rows])
        np.testing.assert_array_equal(xq, xq_ref)
        np.testing.assert_array_equal(w, w_ref)
        np.testing.assert_allclose(y, y_ref, rtol=1e-6, atol=1e-6)  # matmuls may sum in another order


def test_gradients_pass_straight_through_inside_the_range():
    g = _matmul_graph(dict(format="e4m3", no_nan_inf=True))
    module = to_torch(g)
    x = torch.tensor(np.float32([[1.0, -0.3, 0.7, 2.0, 300.0, 0.1, 0.2, 0.05]] * 4), requires_grad=True)
    module(x)[0].sum().backward()
    weight = dict(module.named_parameters())["fc_weight"]
    assert weight.grad is not None and torch.count_nonzero(weight.grad) > 0  # the float weight trains
    # e4m3 x 0.5 reaches 224: 300 is clipped, so its gradient is 0
    assert (x.grad[:, 4] == 0).all() and (x.grad[:, [0, 1, 2, 3, 5, 6, 7]] != 0).all()
